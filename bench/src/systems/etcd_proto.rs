//! The few etcd v3 gRPC messages the benchmark sends, written by hand with
//! prost's derive instead of generated from etcd's `.proto` files, so that
//! building the bench needs no `protoc` (the etcd-client crate runs
//! `protoc` in its build script). Field numbers and types follow etcd
//! 3.4's `rpc.proto`, `kv.proto` and `v3lock.proto`; answers' fields that
//! the bench does not read are left out (protobuf skips unknown fields).
//!
//! The transport is the one etcd-client uses (tonic over hyper and h2), so
//! the client side costs what it would with that crate.

// Fields are read by prost's generated encoders, not by name.
#![allow(dead_code)]

use anyhow::Context;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// etcd's `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(int64, tag = "4")]
    pub version: i64,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// `RangeRequest` (key, range_end; nothing else is needed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
}

/// `RangeResponse` (the pairs found).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
}

/// `PutRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub lease: i64,
}

/// `PutResponse` (nothing read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {}

/// `DeleteRangeRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
}

/// `DeleteRangeResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRangeResponse {
    #[prost(int64, tag = "2")]
    pub deleted: i64,
}

/// `Compare.CompareResult`.
pub const COMPARE_EQUAL: i32 = 0;
/// `Compare.CompareTarget`.
pub const TARGET_VERSION: i32 = 0;
/// `Compare.CompareTarget`.
pub const TARGET_CREATE: i32 = 1;
/// `Compare.CompareTarget`.
pub const TARGET_VALUE: i32 = 3;

/// `Compare`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    #[prost(int32, tag = "1")]
    pub result: i32,
    #[prost(int32, tag = "2")]
    pub target: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(oneof = "compare::TargetUnion", tags = "4, 5, 6, 7, 8")]
    pub target_union: Option<compare::TargetUnion>,
}

/// `Compare`'s oneof.
pub mod compare {
    /// What the key's field is compared with.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum TargetUnion {
        /// The key's version (0 when absent).
        #[prost(int64, tag = "4")]
        Version(i64),
        /// The revision that created the key (0 when absent).
        #[prost(int64, tag = "5")]
        CreateRevision(i64),
        /// The revision of the last change.
        #[prost(int64, tag = "6")]
        ModRevision(i64),
        /// The value.
        #[prost(bytes = "vec", tag = "7")]
        Value(Vec<u8>),
        /// The attached lease.
        #[prost(int64, tag = "8")]
        Lease(i64),
    }
}

/// `RequestOp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    #[prost(oneof = "request_op::Request", tags = "1, 2, 3")]
    pub request: Option<request_op::Request>,
}

/// `RequestOp`'s oneof.
pub mod request_op {
    /// One operation of a transaction.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Request {
        /// Read.
        #[prost(message, tag = "1")]
        Range(super::RangeRequest),
        /// Write.
        #[prost(message, tag = "2")]
        Put(super::PutRequest),
        /// Delete.
        #[prost(message, tag = "3")]
        DeleteRange(super::DeleteRangeRequest),
    }
}

/// `TxnRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// `TxnResponse` (whether the comparisons held).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

/// `LeaseGrantRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseGrantRequest {
    #[prost(int64, tag = "1")]
    pub ttl: i64,
    #[prost(int64, tag = "2")]
    pub id: i64,
}

/// `LeaseGrantResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseGrantResponse {
    #[prost(int64, tag = "2")]
    pub id: i64,
    #[prost(int64, tag = "3")]
    pub ttl: i64,
    #[prost(string, tag = "4")]
    pub error: String,
}

/// `LeaseRevokeRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRevokeRequest {
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `LeaseRevokeResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRevokeResponse {}

/// `LeaseKeepAliveRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseKeepAliveRequest {
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `LeaseKeepAliveResponse` (TTL ≤ 0: the lease is gone).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseKeepAliveResponse {
    #[prost(int64, tag = "2")]
    pub id: i64,
    #[prost(int64, tag = "3")]
    pub ttl: i64,
}

/// `v3lockpb.LockRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LockRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub lease: i64,
}

/// `v3lockpb.LockResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LockResponse {
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
}

/// `v3lockpb.UnlockRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnlockRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

/// `v3lockpb.UnlockResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnlockResponse {}

/// gRPC method paths.
pub mod path {
    /// `KV.Range`.
    pub const RANGE: &str = "/etcdserverpb.KV/Range";
    /// `KV.DeleteRange`.
    pub const DELETE_RANGE: &str = "/etcdserverpb.KV/DeleteRange";
    /// `KV.Txn`.
    pub const TXN: &str = "/etcdserverpb.KV/Txn";
    /// `Lease.LeaseGrant`.
    pub const LEASE_GRANT: &str = "/etcdserverpb.Lease/LeaseGrant";
    /// `Lease.LeaseRevoke`.
    pub const LEASE_REVOKE: &str = "/etcdserverpb.Lease/LeaseRevoke";
    /// `Lease.LeaseKeepAlive` (a bidirectional stream).
    pub const LEASE_KEEP_ALIVE: &str = "/etcdserverpb.Lease/LeaseKeepAlive";
    /// `Lock.Lock`.
    pub const LOCK: &str = "/v3lockpb.Lock/Lock";
    /// `Lock.Unlock`.
    pub const UNLOCK: &str = "/v3lockpb.Lock/Unlock";
}

/// One unary call.
pub async fn unary<Req, Resp>(
    grpc: &mut Grpc<Channel>,
    path: &'static str,
    request: Req,
) -> anyhow::Result<Resp>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    grpc.ready().await.context("etcd connection")?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    let response = grpc
        .unary(
            tonic::Request::new(request),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
        .with_context(|| format!("etcd {path}"))?;
    Ok(response.into_inner())
}

/// Opens a bidirectional stream whose first request is `first`.
pub async fn streaming<Req, Resp>(
    grpc: &mut Grpc<Channel>,
    path: &'static str,
    first: Req,
) -> anyhow::Result<(tokio::sync::mpsc::Sender<Req>, tonic::Streaming<Resp>)>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    sender
        .send(first)
        .await
        .map_err(|_| anyhow::anyhow!("the stream's channel closed"))?;
    grpc.ready().await.context("etcd connection")?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    let response = grpc
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(receiver)),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
        .with_context(|| format!("etcd {path}"))?;
    Ok((sender, response.into_inner()))
}

/// The end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn prefix_end_is_the_next_key_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"cal/a/"), b"cal/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
    }

    #[test]
    fn a_zero_create_revision_comparison_is_still_sent() {
        // A oneof field is written even at its default value; etcd needs the
        // explicit 0 to test that a key does not exist.
        let compare = Compare {
            result: COMPARE_EQUAL,
            target: TARGET_CREATE,
            key: b"k".to_vec(),
            target_union: Some(compare::TargetUnion::CreateRevision(0)),
        };
        let bytes = compare.encode_to_vec();
        assert_eq!(bytes, vec![0x10, 0x01, 0x1a, 0x01, b'k', 0x28, 0x00]);
    }
}
