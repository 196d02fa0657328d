//! `pantau.reporting.v1.ReportingService`: the reports over gRPC.

use std::sync::Arc;

use pantau_platform::ServiceError;
use pantau_platform::authz::Principal;
use pantau_proto::reporting::v1::{self as api, reporting_service_server::ReportingService};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::core::Reporting;

pub struct Api(pub Arc<Reporting>);

type Rpc<T> = Result<Response<T>, Status>;

fn reply<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

impl Api {
    async fn leader(&self, metadata: &MetadataMap) -> Result<Principal, ServiceError> {
        self.0.principal(metadata).await
    }
}

#[tonic::async_trait]
impl ReportingService for Api {
    async fn list_months(
        &self,
        _req: Request<api::ListMonthsRequest>,
    ) -> Rpc<api::ListMonthsResponse> {
        reply(self.0.reports.months().await)
    }

    async fn get_league(&self, req: Request<api::GetLeagueRequest>) -> Rpc<api::GetLeagueResponse> {
        reply(self.0.reports.league(&req.get_ref().month).await)
    }

    async fn get_agency_month(
        &self,
        req: Request<api::GetAgencyMonthRequest>,
    ) -> Rpc<api::GetAgencyMonthResponse> {
        let r = req.get_ref();
        reply(self.0.reports.agency_month(&r.agency_id, &r.month).await)
    }

    async fn get_map(&self, req: Request<api::GetMapRequest>) -> Rpc<api::GetMapResponse> {
        let r = req.get_ref();
        reply(self.0.reports.map(&r.month, &r.agency_id).await)
    }

    async fn get_trends(&self, req: Request<api::GetTrendsRequest>) -> Rpc<api::GetTrendsResponse> {
        reply(self.0.reports.trends(&req.get_ref().agency_id).await)
    }

    async fn list_units(&self, req: Request<api::ListUnitsRequest>) -> Rpc<api::ListUnitsResponse> {
        let who = self.leader(req.metadata()).await?;
        let r = req.get_ref();
        reply(self.0.reports.units(&who, &r.agency_id, &r.month).await)
    }

    async fn list_workers(
        &self,
        req: Request<api::ListWorkersRequest>,
    ) -> Rpc<api::ListWorkersResponse> {
        let who = self.leader(req.metadata()).await?;
        let r = req.get_ref();
        reply(
            self.0
                .reports
                .workers(&who, &r.agency_id, &r.month, &r.unit_id)
                .await,
        )
    }

    async fn get_positions(
        &self,
        req: Request<api::GetPositionsRequest>,
    ) -> Rpc<api::GetPositionsResponse> {
        let who = self.leader(req.metadata()).await?;
        reply(
            self.0
                .reports
                .positions(&who, &req.get_ref().agency_id)
                .await,
        )
    }
}
