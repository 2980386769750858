"use strict";
(async function () {
  const verdict = document.getElementById("verdict");
  const list = document.getElementById("checks");
  const zh = document.documentElement.lang !== "en";
  const words = zh
    ? { ok: "已核验：此条目包含在已签名的检查点中，内容未被改动。", fail: "核验失败：此条目与已签名的检查点不符，可能已被篡改。" }
    : { ok: "Verified: this entry is in the signed checkpoint, unchanged.", fail: "Verification failed: this entry does not match the signed checkpoint; it may have been tampered with." };
  try {
    const response = await fetch("/console/api/entries/" + verdict.dataset.index, { credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    const vkey = Object.values(data.verifier_keys)[0];
    const leafText = new TextDecoder().decode(LedgerVerify.b64(data.leaf_b64));
    let pretty = leafText;
    try { pretty = JSON.stringify(JSON.parse(leafText), null, 2); } catch (_) { /* shown as stored */ }
    document.getElementById("leaf").textContent = pretty;
    document.getElementById("receipt").textContent = JSON.stringify(data.receipt, null, 2);
    document.getElementById("proof").textContent = JSON.stringify(data.inclusion_proof, null, 2);
    document.getElementById("note").textContent = data.checkpoint_note || "";
    const pin = LedgerVerify.pinnedKey(vkey);
    document.getElementById("vkey").textContent = vkey + (pin.changed ? "\n⚠ " + (zh ? "与本浏览器先前记住的公钥不同：" : "differs from the key this browser pinned: ") + pin.pinned : "");
    const result = await LedgerVerify.verifyEntry(data, [pin.changed ? pin.pinned : vkey, ...LedgerVerify.previousKeys(data.verifier_keys)]);
    LedgerVerify.show(verdict, list, result, words);
  } catch (err) {
    LedgerVerify.show(verdict, list, { ok: false, checks: [{ name: "error", ok: false, detail: String(err) }] }, words);
  }
})();
