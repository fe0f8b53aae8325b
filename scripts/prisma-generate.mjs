// Runs `prisma generate` on install. Prisma 7's client needs no engine binary, but the CLI
// still looks for a schema-engine file before generating; on machines where it cannot be
// downloaded, pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file is enough (docs/DESIGN.md).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
env.CHECKPOINT_DISABLE = '1';
const result = spawnSync('npx', ['prisma', 'generate', '--no-hints'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
