import { DataSource } from 'typeorm';
import { openPglite, pgliteDriver } from './pglite.driver.js';
import type { PGlite } from '@electric-sql/pglite';

describe('pgliteDriver', () => {
  let pglite: PGlite;
  let dataSource: DataSource;

  beforeAll(async () => {
    const template = process.env.TOLLGATE_TEST_PGLITE_TEMPLATE;
    const { readFile } = await import('node:fs/promises');
    pglite = await openPglite(undefined, template ? new Blob([await readFile(template)]) : undefined);
    dataSource = await new DataSource({ type: 'postgres', driver: pgliteDriver(pglite) }).initialize();
    await dataSource.query('CREATE TABLE items (id int PRIMARY KEY, n bigint, price numeric)');
  });

  afterAll(async () => {
    await dataSource.destroy();
    await pglite.close();
  });

  it('returns bigint and numeric as strings, like pg', async () => {
    await dataSource.query('INSERT INTO items VALUES (1, 9007199254740993, 0.002)');
    const [row] = await dataSource.query('SELECT n, price FROM items WHERE id = 1');
    expect(row).toEqual({ n: '9007199254740993', price: '0.002' });
  });

  it('keeps concurrent transactions apart: a rollback never undoes another transaction', async () => {
    const slowRollback = dataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO items VALUES (10, 1, 0)');
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new Error('roll back');
    });
    const commit = dataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO items VALUES (11, 1, 0)');
    });
    await expect(slowRollback).rejects.toThrow('roll back');
    await commit;
    const ids = (await dataSource.query('SELECT id FROM items WHERE id >= 10 ORDER BY id')).map((row: { id: number }) => row.id);
    expect(ids).toEqual([11]);
  });

  it('reports affected rows for updates', async () => {
    const [, affected] = await dataSource.query('UPDATE items SET n = n + 1 WHERE id >= 0');
    expect(affected).toBe(2);
  });
});
