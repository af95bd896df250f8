export {
  createMembership,
  maxHeartbeatMs,
  readReportedLoad,
  readReportedPacing,
  readMembers,
  type MemberRow,
  type Membership,
  type MembershipOptions,
  type MembershipView,
  type ReportedLoad,
  type ReportedPacing,
} from './membership.ts'
export {
  claimChunk,
  renewLease,
  fenceDone,
  releaseChunk,
  pickClaimable,
  type ChunkCounts,
  type ChunkKey,
  type ChunkOwnership,
  type Queryable,
} from './leases.ts'
export { createBatchView, type BatchView, type BatchViewOptions, type InBatch } from './batch-view.ts'
export { createPollingLoop, type PollingLoop, type PollingLoopOptions } from './polling.ts'
export { encodeLatencyCounts, latencyBucketCount, latencyBucketOf, mergeLoadReports, p99UsOf, type LoadSummary } from './load-report.ts'
export { decodeTargetSet, encodeTargetSet, loadTargetSet, storeTargetSet, type TargetSet } from './target-set.ts'
