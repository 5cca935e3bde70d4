// The portal module's public surface: other folders import only from here (enforced by the boundary lint).
export { PortalModule } from './portal.module.js';
