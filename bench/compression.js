// The compression rows of `npm run bench` (`--only compression`; bench/run.js starts the
// servers and calls these): compressed cache hits on the edge against nginx serving the same
// bodies pre-compressed from files, nginx's own way of compressing once (`gzip_static on`, and
// `brotli_static on` when Debian's libnginx-mod-http-brotli-static is installed: nginx-light
// has no brotli of its own). Both send the same encoded bytes: the files are compressed here
// with the edge's defaults (gzip level 6, brotli quality 5). What differs is how each serves
// them: the edge from its memory tier (the copies it made once per object, docs/EDGE.md,
// "Compression"), nginx from files (sendfile, open_file_cache) with no proxying at all, the
// fastest nginx can serve a compressed body.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { textFor } = require('./origin');

const BROTLI_MODULE = '/usr/lib/nginx/modules/ngx_http_brotli_static_module.so';
const GZIP_LEVEL = 6;
const BROTLI_QUALITY = 5;

/** The brotli_static module's file, when Debian's package is installed. */
function brotliModule() {
  return fs.existsSync(BROTLI_MODULE) ? BROTLI_MODULE : undefined;
}

/** The URL prefix of the compression rows' objects of `size` bytes (one set of files per size). */
function prefixFor(size) {
  return `/obj/text-${size}-`;
}

/**
 * Writes `count` objects of `size` bytes under `root` exactly as the origin sends them
 * (/obj/text-<size>-<i>?size=<size>&type=text), each with its .gz and .br beside it. Returns
 * the sizes of one object in each coding (they vary a little between objects: the first one's).
 */
function writeStaticFiles(root, size, count) {
  const dir = path.join(root, 'obj');
  fs.mkdirSync(dir, { recursive: true });
  let first;
  for (let i = 0; i < count; i += 1) {
    const urlPath = `${prefixFor(size)}${i}`;
    const body = textFor(urlPath, size);
    const file = path.join(root, urlPath);
    const gz = zlib.gzipSync(body, { level: GZIP_LEVEL });
    const br = zlib.brotliCompressSync(body, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    });
    fs.writeFileSync(file, body);
    fs.writeFileSync(`${file}.gz`, gz);
    fs.writeFileSync(`${file}.br`, br);
    if (first === undefined) first = { identity: body.length, gzip: gz.length, br: br.length };
  }
  return first;
}

/**
 * nginx serving `root` as static files, pre-compressed: gzip_static (and brotli_static with
 * the module), Vary: Accept-Encoding, open file descriptors cached, one worker, no access
 * log; the same connection settings as bench/nginx.conf.template.
 */
function nginxStaticConf({ dir, port, root, brotli }) {
  return `# nginx for the compression rows of \`npm run bench\` (bench/compression.js): pre-compressed static files.
${brotli === undefined ? '' : `load_module ${brotli};\n`}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
worker_rlimit_nofile 16384;

events {
    worker_connections 8192;
    use epoll;
}

http {
    access_log off;
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    server_tokens off;
    open_file_cache max=8000 inactive=60s;
    open_file_cache_valid 60s;

    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;

    server {
        listen 127.0.0.1:${port} backlog=4096 default_server;
        server_name bench.local;

        location /obj/ {
            root ${root};
            default_type "text/javascript; charset=utf-8";
            gzip_static on;
            gzip_vary on;
${brotli === undefined ? '' : '            brotli_static on;\n'}            add_header Cache-Control "public, max-age=3600";
            add_header X-Cache HIT;
        }
    }
}
`;
}

/** The rows: [size, Accept-Encoding]; identity (no field) as the reference for each size. */
function compressionCases(opts, brotli) {
  const sizes = opts.quick ? [100 * 1024] : [10 * 1024, 100 * 1024];
  const out = [];
  for (const size of sizes) {
    for (const coding of ['identity', 'gzip', 'br']) {
      if (opts.quick && coding === 'identity') continue;
      out.push({ size, coding, conns: 64, nginxHas: coding !== 'br' || brotli !== undefined });
    }
  }
  return out;
}

module.exports = { BROTLI_QUALITY, GZIP_LEVEL, brotliModule, compressionCases, nginxStaticConf, prefixFor, writeStaticFiles };
