// The api-keys module's public surface: other folders import only from here (enforced by the boundary lint).
export { type ApiKeyView } from './api-key.entity.js';
export { ApiKeyGuard } from './api-key.guard.js';
export { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from './api-keys.events.js';
export { ApiKeysModule } from './api-keys.module.js';
export { ApiKeysService, type CreateKeyInput, type UpdateKeyInput, holderGrantor, type IssuedKey, KEY_PAGE_DEFAULT, KEY_PAGE_MAX, type KeyGrantor, type KeyPage, type KeyPageRequest, OPERATOR_GRANTOR, OPERATOR_ONLY_SCOPES, VERIFY_SCOPE } from './api-keys.service.js';
export { attachConsumer, type Consumer, consumerOf, CurrentConsumer } from './consumer.js';
export { KEY_REJECTION_MESSAGES, presentedKey } from './api-key.presented.js';
export { TierGuard } from './tier.guard.js';
export {
  CONTROL_NAMES,
  type ControlName,
  endpointRefusal,
  ipRefusal,
  type KeyControls,
  type KeyControlsInput,
  type KeyControlsView,
  MAX_ALLOWLIST_ENTRIES,
  MAX_ENDPOINT_GLOB_LENGTH,
  MAX_KEY_ENDPOINTS,
  MAX_KEY_RATE_LIMITS,
  MAX_METADATA_BYTES,
  MAX_METADATA_DEPTH,
  NO_CONTROLS,
  REFILL_INTERVALS,
  type RefillInterval,
  type UsageCap,
} from './key-controls.js';
export { KeyUsageCap } from './key-usage-cap.js';
