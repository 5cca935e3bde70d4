import { existingRequestState, firstRunFor, pathOf, requestState, RequestStep } from './request-state.js';

describe('request state', () => {
  it('answers firstRunFor true once per request and step', () => {
    const first = {};
    const second = {};
    expect([
      firstRunFor(first, RequestStep.rateLimitCharged),
      firstRunFor(first, RequestStep.rateLimitCharged),
      firstRunFor(first, RequestStep.quotaReserved),
      firstRunFor(first, RequestStep.quotaReserved),
      firstRunFor(second, RequestStep.rateLimitCharged),
    ]).toEqual([true, false, true, false, true]);
  });

  it('keeps one state object per request, created on first use only', () => {
    const request = {};
    expect(existingRequestState(request)).toBeUndefined();
    const state = requestState(request);
    expect(requestState(request)).toBe(state);
    expect(existingRequestState(request)).toBe(state);
    expect(Object.getOwnPropertySymbols(request)).toHaveLength(1);
  });

  it('computes the path once, without the query string', () => {
    let reads = 0;
    const request = {
      headers: {},
      method: 'GET',
      get url() {
        reads++;
        return '/v1/search?q=1';
      },
    };
    expect([pathOf(request), pathOf(request)]).toEqual(['/v1/search', '/v1/search']);
    expect(reads).toBe(1);
  });
});
