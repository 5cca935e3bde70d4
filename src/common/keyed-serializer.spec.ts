import { KeyedSerializer } from './keyed-serializer.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('KeyedSerializer', () => {
  it('runs tasks of one key one at a time, in order, and different keys side by side', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (name: string) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([serializer.run('a', task('a1')), serializer.run('a', task('a2')), serializer.run('a', task('a3'))]);
    expect(results).toEqual(['a1', 'a2', 'a3']);
    expect(log).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(maxRunning).toBe(1);

    log.length = 0;
    await Promise.all([serializer.run('x', task('x')), serializer.run('y', task('y'))]);
    expect(log.slice(0, 2)).toEqual(['start x', 'start y']);
  });

  it('keeps going after a failed task, passes its error to its caller, and forgets idle keys', async () => {
    const serializer = new KeyedSerializer();
    const failed = serializer.run('k', () => Promise.reject(new Error('boom')));
    const next = serializer.run('k', async () => 'after');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('after');
    await tick();
    expect(serializer.size).toBe(0);
  });
});
