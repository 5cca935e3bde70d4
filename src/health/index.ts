// The health module's public surface: other folders import only from here (enforced by the boundary lint).
export { HealthModule } from './health.module.js';
