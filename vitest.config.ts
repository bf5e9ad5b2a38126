import { defaultExclude, defineConfig } from 'vitest/config';

/**
 * The heavy fault tests: each loads the whole machine for a long while (a server process under
 * 300,000 requests, a saturated event loop, SIGTERM under 50 connections, a database restart
 * under 16 clients, thousands of fuzz cases, capture backlogs of 20,000 sign-ups drained through
 * a SIGKILL and a database restart), and several watch event-loop delay or RSS. They run
 * in a project of their own: one file at a time (one worker), in a group of files of their own
 * (sequence.groupOrder) that does not run alongside the rest, so that none of them shares the
 * machine with another test file.
 */
const HEAVY = [
  'tests/memory.test.ts',
  'tests/overload.test.ts',
  'tests/shutdown-under-load.test.ts',
  'tests/database-restart.test.ts',
  'tests/fuzz.test.ts',
  'tests/capture-faults.test.ts',
];

export default defineConfig({
  test: {
    // Each test file builds its own database (PGlite in memory, or a fresh PostgreSQL database).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default'] : ['default'],
    // `vitest run` runs both projects; `vitest run <file>` finds the file in whichever holds it.
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['tests/**/*.test.ts'], exclude: [...defaultExclude, ...HEAVY] },
      },
      {
        extends: true,
        test: { name: 'heavy', include: HEAVY, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
