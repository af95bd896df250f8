export { auditBatch, formatAudit, type AuditCheck, type AuditResult } from './batch.ts'
