import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 connection driven by hand, so a test knows exactly which connection a request goes on (a client's
 * pool would open a new one when the old one closed). Answers need a Content-Length (Express always sends one here).
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: { resolve: (response: RawResponse) => void; reject: (error: Error) => void } | null = null;
  /** Set when the socket failed (ECONNRESET, EPIPE) or the peer closed it. */
  error: Error | null = null;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.tryParse();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.waiting?.reject(error);
      this.waiting = null;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.waiting?.reject(this.error ?? new Error('connection closed before a complete answer'));
        this.waiting = null;
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  request(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    if (this.waiting) throw new Error('one request at a time');
    const lines = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''];
    return new Promise<RawResponse>((resolve, reject) => {
      if (this.ended || this.error) {
        reject(this.error ?? new Error('connection already closed'));
        return;
      }
      this.waiting = { resolve, reject };
      this.socket.write(lines.join('\r\n'));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private tryParse(): void {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const [statusLine, ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const waiting = this.waiting;
    this.waiting = null;
    waiting.resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
  }
}
