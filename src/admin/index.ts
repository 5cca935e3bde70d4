// The admin module's public surface: other folders import only from here (enforced by the boundary lint).
export { AdminGuard } from './admin.guard.js';
export { AdminModule } from './admin.module.js';
export { CreateApiKeyDto, KeyControlsInputDto, ListApiKeysQuery, requireChange, RotateApiKeyDto, SCOPE_MESSAGE, SCOPE_PATTERN, UpdateApiKeyDto } from './dto/api-key.dto.js';
