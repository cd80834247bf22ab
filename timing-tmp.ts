import { openDatabase } from "./src/db/database.ts";
import { createTestDatabase } from "./test/support/test-database.ts";
const ms = (t: number) => Math.round(performance.now() - t);
const cacheDir = process.argv[2] === "nocache" ? null : undefined;
const lite: number[] = [];
for (let i = 0; i < 4; i++) { const t = performance.now(); const db = await openDatabase({ inMemory: true, templateCacheDir: cacheDir }); lite.push(ms(t)); await db.close(); }
const pgt: number[] = []; const dropt: number[] = [];
for (let i = 0; i < 4; i++) { const t = performance.now(); const d = await createTestDatabase("postgres"); pgt.push(ms(t)); const t2 = performance.now(); await d.drop(); dropt.push(ms(t2)); }
console.log(JSON.stringify({ cacheDir, lite, pg: pgt, drop: dropt }));
