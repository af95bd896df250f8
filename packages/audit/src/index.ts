export { auditBatch, formatAudit, type AuditCheck, type AuditResult } from './batch.ts'
export { auditEvent } from './event.ts'
