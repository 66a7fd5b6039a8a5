const http = require("http");
const ms = require("ms");

http
  .createServer((req, res) => res.end(`hello from node, a minute is ${ms(60000)}\n`))
  .listen(process.env.PORT);
