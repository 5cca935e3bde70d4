import { firstRunFor } from './once-per-request.js';

describe('firstRunFor', () => {
  it('answers true once per request and step', () => {
    const charge = Symbol('charge');
    const reserve = Symbol('reserve');
    const first = {};
    const second = {};
    expect([firstRunFor(first, charge), firstRunFor(first, charge), firstRunFor(first, reserve), firstRunFor(second, charge)]).toEqual([true, false, true, true]);
  });
});
