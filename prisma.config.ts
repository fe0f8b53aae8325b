// Prisma CLI configuration (Prisma 7 reads the datasource URL here, not from schema.prisma).
// The service itself never goes through this file: it applies prisma/migrations/ with
// src/migrate.ts (the schema engine cannot be downloaded on every machine) and builds its
// client from src/db.ts. `prisma migrate deploy` elsewhere sees the same bookkeeping.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
});
