// The console module's public surface: other folders import only from here (enforced by the boundary lint).
export { ConsoleModule } from './console.module.js';
