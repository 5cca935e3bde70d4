// The demo module's public surface: other folders import only from here (enforced by the boundary lint).
export { DemoModule } from './demo.module.js';
export { DemoSeeder } from './demo.seeder.js';
