/**
 * Shutting down: a request already in flight finishes and gets its answer; new requests are
 * refused; the process exits cleanly on SIGTERM. Also what the process prints at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';

describe('closing the app', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startApp(db);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('lets an in-flight sync finish and refuses new requests meanwhile', async () => {
    const id = await insertAuthUser(db.sql, { email: 'draining@example.com' });
    await request(t.url).post(`/sync/${id}`).set(auth).expect(200);
    await updateAuthUser(db.sql, id, { email: 'drained@example.com' });

    // Hold the profile row locked, so the next sync blocks inside the database.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.sql.transaction(async (tx) => {
      await tx.query('SELECT id FROM public.users WHERE id = $1 FOR UPDATE', [id]);
      locked();
      await released;
    });
    await isLocked;

    try {
      const inFlight = request(t.url).post(`/sync/${id}`).set(auth).then((res) => res);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closing = t.close();

      // A new request is refused (connection refused, or 503 on a kept-alive socket), never served.
      const late = await fetch(`${t.url}/health`).then(
        (res) => res.status,
        (error: Error & { cause?: { code?: string } }) => error.cause?.code,
      );
      expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(late);

      release();
      await holder;
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.body.action).toBe('updated');
      // Finished while closing: the connection ends with it rather than idling into the close.
      expect(res.headers.connection).toBe('close');
      await closing;
    } finally {
      release();
      await holder;
    }
    expect(await profileOf(db.sql, id)).toMatchObject({ email: 'drained@example.com' });
  });
});

describe('the server process', () => {
  const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
  const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));

  /** Starts the real server in embedded mode on a free port; resolves once it prints its banner. */
  function start(env: Record<string, string>): Promise<{ child: ChildProcess; stdout: () => string; url: string }> {
    const child = spawn(tsx, [server], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', EMBEDDED_DATA_DIR: 'memory://', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 30 s:\n${out}`)), 30_000);
      child.stdout.on('data', () => {
        const match = /Swagger UI: (http:\/\/[^/\s]+)\/docs/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve({ child, stdout: () => out, url: match[1]! });
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
  }

  const exitOf = (child: ChildProcess) =>
    new Promise<{ code: number | null; ms: number }>((resolve) => {
      const started = Date.now();
      child.on('exit', (code) => resolve({ code, ms: Date.now() - started }));
    });

  it('with no SERVICE_TOKENS prints Swagger UI and a generated token that works; exits 0 on SIGTERM', async () => {
    const { child, stdout, url } = await start({});
    const token = /made an admin token[^\n]*\n\s+(\S+)/.exec(stdout())?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await request(url).get('/users/missing').set('Authorization', `Bearer ${token}`).expect(200);
    await request(url).get('/docs/').expect(200);

    const exited = exitOf(child);
    child.kill('SIGTERM');
    const { code, ms } = await exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
  });

  it('with SERVICE_TOKENS set prints no token at all', async () => {
    const configured = 'ops:abcdefghijklmnopqrstuvwxyz0123456789';
    const { child, stdout } = await start({ SERVICE_TOKENS: configured });
    const exited = exitOf(child);
    child.kill('SIGTERM');
    await exited;
    expect(stdout()).toContain('Swagger UI');
    expect(stdout()).not.toMatch(/admin token/);
    expect(stdout()).not.toContain('abcdefghijklmnopqrstuvwxyz0123456789');
  });
});
