// The metering module's public surface: other folders import only from here (enforced by the boundary lint).
export { type BillingPeriod, calendarMonth, periodContaining, periodFromQuery } from './billing-period.js';
export { Metered, type MeteredCost, type MeteredOptions } from './metered.decorator.js';
export { MeteringInterceptor } from './metering.interceptor.js';
export { IDEMPOTENCY_KEY, type MeteringTicket, requestEventKey } from './metering.request.js';
export { isQuotaRefusal, QuotaAdmission, type QuotaRefusal } from './quota.admission.js';
export { QuotaGuard } from './quota.guard.js';
export { TOLLGATE_GUARDS } from './tollgate.guards.js';
export { type IngestTransportStatus, UsageIngestor, UsageRejectedError } from './usage-ingestor.js';
export { type LedgerEventView, UsageLedger } from './usage-ledger.js';
export { UsageRecorder } from './usage.recorder.js';
export { QUOTA_EXCEEDED, type QuotaExceededEvent, USAGE_RECORDED, USAGE_THRESHOLD_CROSSED, type UsageRecordedEvent, type UsageThresholdCrossedEvent } from './usage.events.js';
export { UsageModule } from './usage.module.js';
export { type MeterUsage, type UsageReport, UsageService } from './usage.service.js';
