"use strict";
document.getElementById("consistency-form").addEventListener("submit", async function (event) {
  event.preventDefault();
  const verdict = document.getElementById("verdict");
  const list = document.getElementById("checks");
  const zh = document.documentElement.lang !== "en";
  const words = zh
    ? { ok: "一致：较早的树是较晚的树的前缀，两个检查点的签名均有效。", fail: "不一致或签名无效：日志可能被改写。" }
    : { ok: "Consistent: the older tree is a prefix of the newer, and both checkpoints are signed.", fail: "Not consistent, or a signature fails: the log may have been rewritten." };
  const first = document.getElementById("first").value;
  const second = document.getElementById("second").value;
  try {
    const response = await fetch("/console/api/consistency?first=" + encodeURIComponent(first) + "&second=" + encodeURIComponent(second), { credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    const vkey = Object.values(data.verifier_keys)[0];
    const pin = LedgerVerify.pinnedKey(vkey);
    LedgerVerify.show(verdict, list, await LedgerVerify.verifyConsistencyData(data, [pin.changed ? pin.pinned : vkey, ...LedgerVerify.previousKeys(data.verifier_keys)]), words);
  } catch (err) {
    LedgerVerify.show(verdict, list, { ok: false, checks: [{ name: "error", ok: false, detail: String(err) }] }, words);
  }
});
