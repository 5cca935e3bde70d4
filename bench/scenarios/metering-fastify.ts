import { onFastify } from '../support/adapter-scenario.js';
import metering from './metering.js';

export default onFastify(metering);
