import { rateLimitScenario } from '../support/rate-limit-scenario.js';

export default rateLimitScenario('memory');
