import { StoreBreaker } from './store.breaker.js';

describe('StoreBreaker', () => {
  let now = 0;
  const create = () => new StoreBreaker({ faults: 3, cooldownMs: 1_000 }, () => now);
  beforeEach(() => {
    now = 0;
  });

  it('opens only after the configured faults in a row; an answer in between starts the count again', () => {
    const breaker = create();
    breaker.failed(false);
    breaker.failed(false);
    breaker.succeeded();
    breaker.failed(false);
    breaker.failed(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.permit()).toBe('call');
    expect(breaker.failed(false)).toBe(true);
    expect(breaker.state).toBe('open');
    expect(breaker.permit()).toBeNull();
  });

  it('after the cooldown lets exactly one probe through; a good probe closes it', () => {
    const breaker = create();
    for (let i = 0; i < 3; i++) breaker.failed(false);
    now = 999;
    expect(breaker.permit()).toBeNull();
    now = 1_000;
    expect(breaker.permit()).toBe('probe');
    expect(breaker.state).toBe('half-open');
    expect(breaker.permit()).toBeNull();
    expect(breaker.succeeded()).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(breaker.permit()).toBe('call');
  });

  it('a failed probe opens it for another cooldown; a late fault of an older call does not count as the probe', () => {
    const breaker = create();
    for (let i = 0; i < 3; i++) breaker.failed(false);
    now = 1_000;
    expect(breaker.permit()).toBe('probe');
    breaker.failed(false);
    expect(breaker.state).toBe('half-open');
    now = 1_500;
    breaker.failed(true);
    expect(breaker.state).toBe('open');
    now = 2_499;
    expect(breaker.permit()).toBeNull();
    now = 2_500;
    expect(breaker.permit()).toBe('probe');
  });
});
