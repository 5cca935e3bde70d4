import { Inject, Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { type IngestTransportStatus, UsageIngestor } from '../metering/index.js';
import { MetricsRegistry } from './metrics.registry.js';

type Figure = 'pending' | 'ackPending' | 'redelivered' | 'fallbacks' | 'refused';

/**
 * The ingest transport on `/metrics`: whether JetStream is the path in use (0: the direct fallback), the durable
 * consumer's lag (pending), what is delivered and not yet committed, redeliveries, fallbacks and refusals.
 */
@Injectable()
export class IngestMetrics {
  private reading: { at: number; status: Promise<IngestTransportStatus> } | null = null;

  constructor(@Inject(MetricsRegistry) registry: MetricsRegistry, @Inject(UsageIngestor) private readonly ingestor: UsageIngestor) {
    const status = () => this.status();
    const gauge = (name: string, help: string, read: (status: IngestTransportStatus) => number | null) => {
      new Gauge({
        name,
        help,
        registers: [registry],
        // prom-client calls collect with the gauge as `this`.
        async collect() {
          const value = read(await status());
          if (value === null) this.reset();
          else this.set(value);
        },
      });
    };
    const figure = (name: Figure) => (status: IngestTransportStatus) => (status.transport === 'jetstream' ? status[name] : null);
    gauge('tollgate_ingest_jetstream_connected', 'JetStream ingest in use (1), or its direct fallback (0); absent on the direct transport', (status) =>
      status.transport === 'jetstream' ? Number(status.connected) : null,
    );
    gauge('tollgate_ingest_stream_pending', 'Usage events in the stream not yet delivered to the ledger consumer (its lag)', figure('pending'));
    gauge('tollgate_ingest_stream_ack_pending', 'Usage events delivered and not yet committed to the ledger', figure('ackPending'));
    gauge('tollgate_ingest_stream_redelivered', 'Usage events this instance\'s consumer was given again since it started (an instance died, the database was away)', figure('redelivered'));
    gauge('tollgate_ingest_stream_fallbacks', 'Usage events this instance sent the direct way because NATS did not take them', figure('fallbacks'));
    gauge('tollgate_ingest_stream_refused', 'Streamed usage events the ledger refused on their own (kept aside)', figure('refused'));
  }

  /** One read of the transport per scrape, shared by the gauges. */
  private status(): Promise<IngestTransportStatus> {
    if (!this.reading || Date.now() - this.reading.at > 250) this.reading = { at: Date.now(), status: this.ingestor.transportStatus() };
    return this.reading.status;
  }
}
