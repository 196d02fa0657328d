//! Generated protobuf types for Pantau: the gRPC APIs under `pantau.<svc>.v1`
//! and the event payloads under `pantau.events.v1` that flow on JetStream.

pub mod events {
    pub mod v1 {
        tonic::include_proto!("pantau.events.v1");
    }
}

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("pantau.identity.v1");
    }
}

pub mod attendance {
    pub mod v1 {
        tonic::include_proto!("pantau.attendance.v1");
    }
}

pub mod activity {
    pub mod v1 {
        tonic::include_proto!("pantau.activity.v1");
    }
}

pub mod scoring {
    pub mod v1 {
        tonic::include_proto!("pantau.scoring.v1");
    }
}

pub mod fraud {
    pub mod v1 {
        tonic::include_proto!("pantau.fraud.v1");
    }
}

pub mod reporting {
    pub mod v1 {
        tonic::include_proto!("pantau.reporting.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Pantau proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("pantau_descriptor");
