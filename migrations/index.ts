import { CreateCustomers1763884800000 } from './1763884800000-CreateCustomers.js';
import { CreateApiKeys1763884900000 } from './1763884900000-CreateApiKeys.js';
import { CreateUsageLedger1763885000000 } from './1763885000000-CreateUsageLedger.js';
import { CreateBilling1763885100000 } from './1763885100000-CreateBilling.js';
import { CreateNotifications1763885200000 } from './1763885200000-CreateNotifications.js';
import { CreatePortalSessions1763885300000 } from './1763885300000-CreatePortalSessions.js';
import { OrderStripeWebhooks1763885400000 } from './1763885400000-OrderStripeWebhooks.js';
import { OperatorNotifications1763885500000 } from './1763885500000-OperatorNotifications.js';
import { UsageCounterLimit1763885610000 } from './1763885610000-UsageCounterLimit.js';
import { WebhookUrlSetBy1763885612000 } from './1763885612000-WebhookUrlSetBy.js';
import { PushFailures1763885700000 } from './1763885700000-PushFailures.js';
import { SubscribeAttempts1763885800000 } from './1763885800000-SubscribeAttempts.js';
import { BillingHistory1763886000000 } from './1763886000000-BillingHistory.js';
import { TierChangeLost1763886010000 } from './1763886010000-TierChangeLost.js';
import { NotificationChannelKinds1763886100000 } from './1763886100000-NotificationChannelKinds.js';
import { ApiKeyControls1763886200000 } from './1763886200000-ApiKeyControls.js';
import { PartitionUsageLedger1763886300000 } from './1763886300000-PartitionUsageLedger.js';
import { ConsoleSessions1763886400000 } from './1763886400000-ConsoleSessions.js';
import { SyncRuns1763886410000 } from './1763886410000-SyncRuns.js';

/** Every migration, in order. Listed explicitly so the same list works from `dist/` and under Jest. */
export const MIGRATIONS = [
  CreateCustomers1763884800000,
  CreateApiKeys1763884900000,
  CreateUsageLedger1763885000000,
  CreateBilling1763885100000,
  CreateNotifications1763885200000,
  CreatePortalSessions1763885300000,
  OrderStripeWebhooks1763885400000,
  OperatorNotifications1763885500000,
  UsageCounterLimit1763885610000,
  WebhookUrlSetBy1763885612000,
  PushFailures1763885700000,
  SubscribeAttempts1763885800000,
  BillingHistory1763886000000,
  TierChangeLost1763886010000,
  NotificationChannelKinds1763886100000,
  ApiKeyControls1763886200000,
  PartitionUsageLedger1763886300000,
  ConsoleSessions1763886400000,
  SyncRuns1763886410000,
];
