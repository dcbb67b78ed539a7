/**
 * API keys for admins, against the real server: an admin key makes a key (the secret only in
 * that response), the new key works, is listed without its secret, and once revoked is refused
 * with a typed 401. Other scopes are refused (403), and tenant other's admin key can neither
 * see, make for, nor revoke acme's keys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AuthenticationError,
  NotFoundError,
  PermissionDeniedError,
  Ragwright,
  UnprocessableEntityError,
  type KeyScope,
} from "../src/index.js";
import { live } from "./harness.js";
import { assertShape, SHAPES } from "./shapes.js";

test("an admin creates a key, the key works, is listed without its secret, and after revoke is a 401", async () => {
  const server = await live();
  const admin = new Ragwright({ baseURL: server.url, apiKey: server.keys.admin });
  const made = await admin.keys.create({ scopes: ["read"], groups: ["hr"], name: "ts-client test" });
  assertShape(made, SHAPES.createdKey, "created key");
  assert.equal(made.tenant, "acme");
  assert.deepEqual([made.scopes, made.groups], [["read"], ["hr"]]);
  assert.ok(made.key.startsWith("rw_"), "the secret is in the creating response");

  const bot = new Ragwright({ baseURL: server.url, apiKey: made.key });
  assert.ok(Array.isArray((await bot.documents.list()).documents), "the new key works");
  await assert.rejects(bot.keys.list(), PermissionDeniedError); // a read key is no admin

  const listed = await admin.keys.list();
  const row = listed.find((k) => k.key_id === made.key_id);
  assert.ok(row, "the new key is listed");
  assertShape(row, SHAPES.apiKey, "listed key");
  assert.equal(row.revoked_at, null);
  assert.ok(!JSON.stringify(listed).includes(made.key), "a list never holds a secret");
  assert.ok(listed.every((k) => k.tenant === "acme"));

  assert.deepEqual(await admin.keys.revoke(made.key_id), { revoked: made.key_id });
  await assert.rejects(bot.documents.list(), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError, `expected AuthenticationError, got ${String(e)}`);
    assert.equal(e.status, 401);
    assert.equal(e.type, "unauthorized");
    return true;
  });
  // the body behind the typed error is the schema's ErrorBody (src/openapi.ts), field for field
  const raw = await fetch(`${server.url}/v1/documents`, { headers: { authorization: `Bearer ${made.key}` } });
  const body = (await raw.json()) as { error: unknown };
  assertShape(body, SHAPES.errorBody, "401 body");
  assertShape(body.error, SHAPES.errorDetail, "401 body's error");
  await assert.rejects(admin.keys.revoke(made.key_id), NotFoundError); // revoked already
  const after = (await admin.keys.list()).find((k) => k.key_id === made.key_id);
  assert.ok(after?.revoked_at, "the list shows when it was revoked");
});

test("a key without the admin scope is refused, and an admin of tenant other cannot touch acme's keys", async () => {
  const server = await live();
  const admin = new Ragwright({ baseURL: server.url, apiKey: server.keys.admin });
  const target = await admin.keys.create({ scopes: ["read"], name: "target" });

  const writer = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
  await assert.rejects(writer.keys.create({ scopes: ["admin"] }), PermissionDeniedError);
  await assert.rejects(writer.keys.revoke(target.key_id), PermissionDeniedError);

  const eve = new Ragwright({ baseURL: server.url, apiKey: server.keys.eve }); // tenant other's admin
  assert.ok(!(await eve.keys.list()).some((k) => k.key_id === target.key_id || k.tenant === "acme"));
  await assert.rejects(eve.keys.revoke(target.key_id), NotFoundError); // as if it did not exist
  await assert.rejects(eve.keys.create({ tenant: "acme", scopes: ["admin"] }), PermissionDeniedError);
  const stillWorks = new Ragwright({ baseURL: server.url, apiKey: target.key });
  assert.ok((await stillWorks.documents.list()).total >= 0);

  const bad = ["root" as KeyScope];
  await assert.rejects(admin.keys.create({ scopes: bad }), UnprocessableEntityError);
  await admin.keys.revoke(target.key_id);
});
