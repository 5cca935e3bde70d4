import { Inject } from '@nestjs/common';
import type { Registry } from 'prom-client';

/** One prom-client registry per app (not the global one), so several apps in one process stay apart. */
export type MetricsRegistry = Registry;
export const MetricsRegistry = Symbol('MetricsRegistry');
export const InjectMetricsRegistry = () => Inject(MetricsRegistry);
