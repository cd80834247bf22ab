// ctx.db has no count(): walk the table in pages ordered by id, each page starting after the
// last id seen (keyset paging never skips or repeats a row, unlike offsets on a changing table).
const PAGE = 100;
const MAX_PAGES = 200; // why: bounds the job's time; above 20,000 rows the count says "at least".

export async function countRows(ctx, table, filter = {}) {
  let count = 0;
  let after = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const rows = await ctx.db.query(table, after ? { ...filter, id: { $gt: after } } : filter, { limit: PAGE, order_by: "id" });
    count += rows.length;
    if (rows.length < PAGE) return { count, complete: true };
    after = rows[rows.length - 1].id;
  }
  return { count, complete: false };
}
