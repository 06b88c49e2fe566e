// A tiny store-only (no compression) ZIP writer: images are compressed already.
// Enough for "download all": UTF-8 names, CRC-32, no ZIP64 (under 4 GB in all).
(() => {
  "use strict";
  const TABLE = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    TABLE[n] = c >>> 0;
  }

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  const UTF8 = 0x0800; // general purpose flag: names are UTF-8
  const DOS_DATE = 0x21; // 1980-01-01: no clock dependence, reproducible archives

  function localHeader(name, crc, size) {
    const v = new DataView(new ArrayBuffer(30));
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, UTF8, true);
    v.setUint16(12, DOS_DATE, true);
    v.setUint32(14, crc, true);
    v.setUint32(18, size, true);
    v.setUint32(22, size, true);
    v.setUint16(26, name.length, true);
    return v;
  }

  function centralHeader(name, crc, size, offset) {
    const v = new DataView(new ArrayBuffer(46));
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, 20, true);
    v.setUint16(8, UTF8, true);
    v.setUint16(14, DOS_DATE, true);
    v.setUint32(16, crc, true);
    v.setUint32(20, size, true);
    v.setUint32(24, size, true);
    v.setUint16(28, name.length, true);
    v.setUint32(42, offset, true);
    return v;
  }

  // entries: [{name, blob}] -> a Blob of the archive
  async function build(entries) {
    const encoder = new TextEncoder();
    const parts = [];
    const central = [];
    let offset = 0;
    for (const entry of entries) {
      const data = new Uint8Array(await entry.blob.arrayBuffer());
      const name = encoder.encode(entry.name);
      const crc = crc32(data);
      parts.push(localHeader(name, crc, data.length), name, data);
      central.push(centralHeader(name, crc, data.length, offset), name);
      offset += 30 + name.length + data.length;
    }
    const size = central.reduce((total, part) => total + part.byteLength, 0);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, entries.length, true);
    end.setUint16(10, entries.length, true);
    end.setUint32(12, size, true);
    end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end], { type: "application/zip" });
  }

  window.AlphacutZip = { build };
})();
