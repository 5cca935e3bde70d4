import { parseIsoDateTime } from './validation.js';

describe('parseIsoDateTime', () => {
  it.each([
    ['2027-01-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['2027-01-01T00:00Z', '2027-01-01T00:00:00.000Z'],
    ['2027-06-30T23:59:59.999+02:00', '2027-06-30T21:59:59.999Z'],
    ['2028-02-29T12:00:00-05:30', '2028-02-29T17:30:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
  ])('reads %s', (text, iso) => {
    expect(parseIsoDateTime(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '20000-01-01T00:00:00Z',
    '+020000-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '1969-12-31T23:59:59Z',
    '2027-02-30T00:00:00Z',
    '2027-02-29T00:00:00Z',
    '2027-01-01T24:00:00Z',
    '2027-01-01T23:60:00Z',
    '2027-01-01T00:00:00+24:00',
    '2027-01-01',
    '2027-01-01T00:00:00',
    'Mon, 01 Jan 2027 00:00:00 GMT',
    '1798761600',
    ' 2027-01-01T00:00:00Z',
    '2027-01-01T00:00:00Z\u0000',
  ])('refuses %j', (text) => {
    expect(parseIsoDateTime(text)).toBeNull();
  });

  it('refuses what is not a string', () => {
    for (const value of [1798761600000, null, undefined, {}, [], true]) expect(parseIsoDateTime(value)).toBeNull();
  });
});
