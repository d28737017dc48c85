// The migration guide's client code (seeds/001, step 4), kept as the guide writes it. Node has no
// page origin, so the guide's relative URLs are resolved against the server given on the command
// line; appLogin() is the sandbox's: it mints a code from the Toss simulator.
const [base, sandbox, hash, userKey] = process.argv.slice(2);
const fetch = (path, init) => globalThis.fetch(new URL(path, base), init);
async function appLogin() {
  const r = await globalThis.fetch(new URL('/sandbox/authorize', sandbox), {
    method: 'POST',
    body: JSON.stringify({ userKey: Number(userKey) }),
  });
  return r.json();
}
const status = true; // getIsTossLoginIntegratedService()

// ---- from the guide ----
if (status === true) { // 토스 로그인 연동된 유저
  const { isMapped } = await fetch('/api/auth/migration/status', { // 매핑 여부 확인
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ hash }),
  }).then((r) => r.json());
  if (!isMapped) {
    const { authorizationCode, referrer } = await appLogin(); // 미매핑이면 토스 로그인 후 매핑 생성
    await fetch('/api/auth/migration/link', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ authorizationCode, referrer, hash }),
    });
  }
  console.log('매핑 완료 또는 이미 매핑된 사용자에요.');
}
// ---- end of the guide's code ----

const after = await fetch('/api/auth/migration/status', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ hash }),
}).then((r) => r.json());
console.log(JSON.stringify(after));
