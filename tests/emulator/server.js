'use strict';
/*
 * Telegram Bot API emulator for end-to-end tests of the Boussole bot process.
 *
 *   node tests/emulator/server.js --port 0 --host 127.0.0.1
 *
 * Runs `telegram-test-api` (pinned 4.2.1 in package.json) and prints `READY <port>` on
 * stdout once listening (`--port 0` picks a free port). SIGTERM/SIGINT stop it cleanly.
 * Port and host may also come from EMULATOR_PORT / EMULATOR_HOST.
 *
 * The bot talks to `http://HOST:PORT/bot<token>/<method>` like to api.telegram.org; the
 * test plays the user through the package's client routes (/sendMessage, /sendCommand,
 * /sendCallback, /getUpdatesHistory) and the routes added here (/getChatState, /getCommands,
 * /getDescriptions).
 *
 * The package targets node bot libraries and is not compatible with python-telegram-bot 22
 * as is. Rather than editing node_modules, this launcher shims it:
 *   - route registrars are put in front of the package's own route list
 *     (lib/routes/index.js `routes`, read by the TelegramServer constructor), so for the
 *     same path express runs ours first and the package's never sees the request;
 *   - TelegramServer.formatUpdate (static, called by getUpdates and the webhook push) is
 *     wrapped;
 *   - a subclass overrides the instance methods that deliver user updates.
 * Each shim below says what it fixes and why.
 */

const crypto = require('crypto');
const axios = require('axios');
const { routes } = require('telegram-test-api/lib/routes/index');
const { handle } = require('telegram-test-api/lib/routes/bot/utils');
const TelegramServer = require('telegram-test-api');

// ---------------------------------------------------------------------------- helpers

// Telegram dates are Unix seconds; the package stores and returns milliseconds, and PTB
// turns `date` into a datetime (milliseconds land it ~50,000 years ahead and fail).
function toSeconds(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return Math.floor(Date.now() / 1000);
  return n > 1e11 ? Math.floor(n / 1000) : Math.floor(n);
}

function parseJson(value) {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (_error) {
    return value;
  }
}

// PTB sends form-encoded values: booleans arrive as the string "true".
function isTrue(value) {
  return value === true || value === 'true';
}

// The package's getMe returns a User without `is_bot`, which PTB 22 refuses (User needs
// it), and without the bot-only flags that getMe carries on Telegram. The id is the
// token's numeric prefix, as on Telegram.
function botUser(token) {
  const id = Number(String(token).split(':')[0]);
  return {
    id: Number.isSafeInteger(id) && id > 0 ? id : 666,
    is_bot: true,
    first_name: 'Boussole (test)',
    username: 'BoussoleTestBot',
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
  };
}

function badRequest(res, description) {
  res.sendResult({ ok: false, error_code: 400, description: `Bad Request: ${description}` });
}

function inlineMarkup(markup) {
  const parsed = parseJson(markup);
  return parsed && typeof parsed === 'object' && 'inline_keyboard' in parsed ? parsed : undefined;
}

// ----------------------------------------------------------------------- server class

class EmulatorServer extends TelegramServer {
  constructor(config) {
    super(config);
    this.chats = new Map(); // chat id -> chat object seen in the user's updates
    this.commands = new Map(); // token + scope + language -> BotCommand[]
    this.descriptions = new Map(); // token -> { description, short_description }
    this.callbackAnswers = []; // {token, chat_id, callback_query_id, text, show_alert, url}
    this.callbackChats = new Map(); // callback_query_id -> chat id
  }

  // Why: the package reads `updateId`/`messageId` for a user update, awaits the webhook
  // POST and only then increments them; a bot reply sent meanwhile reuses the same ids.
  // Reserving them up front keeps ids unique (the package's later increment leaves gaps).
  getCommonFields(botToken) {
    const fields = super.getCommonFields(botToken);
    this.updateId += 1;
    this.messageId += 1;
    return fields;
  }

  // Why: the package ignores setWebhook's `secret_token`; PTB's webhook server answers 403
  // to updates without the matching X-Telegram-Bot-Api-Secret-Token header. Also: errors
  // are reported to the caller (the client routes below await this) instead of becoming
  // unhandled rejections that kill node, and axios must not go through an env proxy.
  async addUserUpdate(update) {
    if (!update.botToken) throw new Error('An update must carry `botToken`.');
    const webhook = this.webhooks[update.botToken];
    if (!webhook) {
      this.storage.userMessages.push(update);
      return;
    }
    const headers = {};
    if (webhook.secret_token) headers['X-Telegram-Bot-Api-Secret-Token'] = webhook.secret_token;
    const resp = await axios({
      url: webhook.url,
      method: 'POST',
      data: TelegramServer.formatUpdate(update),
      headers,
      proxy: false,
      validateStatus: () => true,
    });
    if (resp.status > 204) {
      throw new Error(`webhook ${webhook.url} answered HTTP ${resp.status}`);
    }
  }

  // Why: the package reads `callbackId` before awaiting delivery and increments it after,
  // so two clicks in flight could share an id. It is also remembered with its chat so
  // answerCallbackQuery can be filed under the chat.
  async addUserCallback(callbackQuery) {
    const callbackId = this.callbackId;
    this.callbackId += 1;
    const chat = callbackQuery.message && callbackQuery.message.chat;
    this.callbackChats.set(String(callbackId), chat ? chat.id : callbackQuery.from.id);
    await this.addUserUpdate({
      ...this.getCommonFields(callbackQuery.botToken),
      callbackQuery,
      callbackId,
    });
    this.emit('AddedUserCallbackQuery');
    return callbackId;
  }

  chatFor(chatId) {
    return this.chats.get(String(chatId)) || { id: Number(chatId), type: 'private', first_name: 'User' };
  }

  findBotMessage(token, chatId, messageId) {
    return this.storage.botMessages.find((u) => u.botToken === token
      && String(u.message.chat_id) === String(chatId)
      && String(u.messageId) === String(messageId));
  }

  // A stored bot message as Telegram's Message object. Why: the package echoes every request
  // parameter back as the "message" (e.g. link_preview_options as a JSON *string*, which
  // PTB then fails to parse as a Message field), with `date` in ms and no `from`.
  messageObject(stored) {
    const m = stored.message;
    const msg = {
      message_id: stored.messageId,
      from: botUser(stored.botToken),
      chat: this.chatFor(m.chat_id),
      date: toSeconds(stored.time),
      text: m.text,
    };
    if (stored.editTime) msg.edit_date = toSeconds(stored.editTime);
    if (Array.isArray(m.entities)) msg.entities = m.entities;
    const markup = inlineMarkup(m.reply_markup);
    if (markup) msg.reply_markup = markup;
    return msg;
  }

  // Why: Telegram removes the inline keyboard when an edit has no reply_markup (the package
  // merges and keeps the old one), and refuses an edit that changes nothing with
  // "message is not modified" (PTB raises BadRequest; real bots must handle it).
  editBotMessage(req, res, changes, eventName) {
    const token = req.params.token;
    const { chat_id: chatId, message_id: messageId } = req.body;
    if (req.body.inline_message_id) return badRequest(res, 'inline messages are not emulated');
    const stored = this.findBotMessage(token, chatId, messageId);
    if (!stored) return badRequest(res, 'message to edit not found');
    const updated = { ...stored.message, ...changes };
    const same = (key) => JSON.stringify(updated[key] ?? null)
      === JSON.stringify(stored.message[key] ?? null);
    if (same('text') && same('reply_markup') && same('entities')) {
      return badRequest(res, 'message is not modified: specified new message content and reply'
        + ' markup are exactly the same as a current content and reply markup of the message');
    }
    stored.message = updated;
    stored.editTime = Date.now();
    this.emit(eventName);
    return res.sendResult({ ok: true, result: this.messageObject(stored) });
  }
}

// Why: PTB 22 requires `chat_instance` on CallbackQuery (Telegram always sends it) and the
// callback's `message` must have `date` in seconds (date 0 would make it an
// InaccessibleMessage). User messages also lose the package-internal `botToken` field.
const originalFormatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = function formatUpdate(update) {
  const formatted = originalFormatUpdate.call(this, update);
  if (formatted.callback_query) {
    const query = formatted.callback_query;
    const message = query.message || {};
    const chatId = message.chat ? message.chat.id : query.from.id;
    query.chat_instance = `ci${chatId}`;
    if (query.message) query.message = { ...message, date: toSeconds(message.date) };
  } else if (formatted.message) {
    const { botToken: _token, ...message } = formatted.message;
    formatted.message = { ...message, date: toSeconds(message.date) };
  }
  return formatted;
};

// --------------------------------------------------------------------- bot API routes

function commandsKey(token, params) {
  const scope = parseJson(params.scope) || { type: 'default' };
  // by type and chat only: the same scope whatever the order of its JSON keys
  const where = [scope.type, scope.chat_id === undefined ? '' : String(scope.chat_id)];
  return JSON.stringify([token, where, params.language_code || '']);
}

function botRoutes(app, server) {
  handle(app, '/bot:token/getMe', (req, res) => {
    res.sendResult({ ok: true, result: botUser(req.params.token) });
  });

  // Why: the result must be a clean Message (see messageObject), date in seconds.
  handle(app, '/bot:token/sendMessage', (req, res) => {
    if (!req.body.chat_id) return badRequest(res, 'chat_id is empty');
    if (!req.body.text) return badRequest(res, 'message text is empty');
    const sent = server.addBotMessage(req.body, req.params.token);
    const stored = server.findBotMessage(req.params.token, req.body.chat_id, sent.message_id);
    return res.sendResult({ ok: true, result: server.messageObject(stored) });
  });

  // Why: both return `null` in the package; Telegram returns the edited Message.
  handle(app, '/bot:token/editMessageText', (req, res) => {
    const body = TelegramServer.normalizeMessage({ ...req.body });
    server.editBotMessage(req, res, {
      text: body.text,
      parse_mode: body.parse_mode,
      entities: body.entities,
      reply_markup: inlineMarkup(body.reply_markup),
    }, 'EditedMessageText');
  });
  handle(app, '/bot:token/editMessageReplyMarkup', (req, res) => {
    server.editBotMessage(req, res, { reply_markup: inlineMarkup(req.body.reply_markup) },
      'EditedMessageReplyMarkup');
  });

  // Why: the package answers `null` (PTB expects `true`) and forgets the answer; tests
  // want to see the toast/alert the user got.
  handle(app, '/bot:token/answerCallbackQuery', (req, res) => {
    const id = String(req.body.callback_query_id);
    const chatId = server.callbackChats.get(id);
    server.callbackAnswers.push({
      token: req.params.token,
      chat_id: chatId === undefined ? null : chatId,
      callback_query_id: id,
      text: req.body.text || null,
      show_alert: isTrue(req.body.show_alert),
      url: req.body.url || null,
    });
    res.sendResult({ ok: true, result: true });
  });

  // Why: missing from the package; Boussole registers its command menu at start-up.
  handle(app, '/bot:token/setMyCommands', (req, res) => {
    const commands = parseJson(req.body.commands);
    if (!Array.isArray(commands)) return badRequest(res, 'commands must be an array');
    server.commands.set(commandsKey(req.params.token, req.body), commands);
    return res.sendResult({ ok: true, result: true });
  });
  handle(app, '/bot:token/getMyCommands', (req, res) => {
    const commands = server.commands.get(commandsKey(req.params.token, req.body)) || [];
    res.sendResult({ ok: true, result: commands });
  });
  handle(app, '/bot:token/deleteMyCommands', (req, res) => {
    server.commands.delete(commandsKey(req.params.token, req.body));
    res.sendResult({ ok: true, result: true });
  });
  // Why: missing from the package; Boussole sets what the empty chat shows at start-up.
  // Telegram's limits: 512 characters for the description, 120 for the short one.
  for (const [method, field, limit] of [
    ['setMyDescription', 'description', 512],
    ['setMyShortDescription', 'short_description', 120],
  ]) {
    handle(app, `/bot:token/${method}`, (req, res) => {
      const text = req.body[field] || '';
      if ([...text].length > limit) return badRequest(res, `${field} is too long`);
      const current = server.descriptions.get(req.params.token) || {};
      server.descriptions.set(req.params.token, { ...current, [field]: text });
      return res.sendResult({ ok: true, result: true });
    });
  }

  // Why: same as the package (which keeps the whole body, secret_token included, for
  // addUserUpdate above) but answers `true` like Telegram instead of `null`.
  handle(app, '/bot:token/setWebhook', (req, res) => {
    const webhook = req.body.url ? req.body : req.query;
    if (!webhook.url) return badRequest(res, 'webhook url is empty');
    server.setWebhook(webhook, req.params.token);
    return res.sendResult({ ok: true, result: true });
  });
}

// ------------------------------------------------------------------ client (test) routes

function clientRoutes(app, server) {
  const remember = (body) => {
    const chat = body.message ? body.message.chat : body.chat;
    if (chat && chat.id !== undefined) server.chats.set(String(chat.id), chat);
  };

  // Why: the package does not await delivery (a webhook failure becomes an unhandled
  // rejection that kills node) and does not say which message_id the user message got.
  const userMessage = (path, add) => {
    app.post(path, async (req, res) => {
      try {
        remember(req.body);
        const messageId = server.messageId;
        await add(req.body);
        res.sendResult({ ok: true, result: { message_id: messageId } });
      } catch (error) {
        res.status(502).json({ ok: false, description: String(error.message || error) });
      }
    });
  };
  userMessage('/sendMessage', (body) => server.addUserMessage(body));
  userMessage('/sendCommand', (body) => server.addUserCommand(body));

  // Why: the callback's `message` is completed from storage (current text and keyboard,
  // `from` the bot, date in seconds) as Telegram sends it, whatever the client sent.
  app.post('/sendCallback', async (req, res) => {
    try {
      const query = { ...req.body };
      remember(query);
      const sent = query.message || {};
      if (sent.chat && sent.message_id !== undefined) {
        const stored = server.findBotMessage(query.botToken, sent.chat.id, sent.message_id);
        if (stored) query.message = { ...server.messageObject(stored), chat: sent.chat };
      }
      const callbackId = await server.addUserCallback(query);
      res.sendResult({ ok: true, result: { callback_query_id: String(callbackId) } });
    } catch (error) {
      res.status(502).json({ ok: false, description: String(error.message || error) });
    }
  });

  // What the user sees in a chat: the bot's messages after edits/deletions, in order, and
  // the callback answers (toasts/alerts) given in that chat.
  app.post('/getChatState', (req, res) => {
    const { token, chatId } = req.body;
    const messages = server.storage.botMessages
      .filter((u) => u.botToken === token && String(u.message.chat_id) === String(chatId))
      .sort((a, b) => a.messageId - b.messageId)
      .map((u) => ({
        ...server.messageObject(u),
        parse_mode: u.message.parse_mode || null,
        reply_markup: parseJson(u.message.reply_markup) || null,
      }));
    const answers = server.callbackAnswers
      .filter((a) => a.token === token && String(a.chat_id) === String(chatId))
      .map(({ token: _token, ...answer }) => answer);
    res.sendResult({ ok: true, result: { messages, callback_answers: answers } });
  });

  app.post('/getCommands', (req, res) => {
    const commands = server.commands.get(commandsKey(req.body.token, req.body)) || [];
    res.sendResult({ ok: true, result: commands });
  });
  app.post('/getDescriptions', (req, res) => {
    res.sendResult({ ok: true, result: server.descriptions.get(req.body.token) || {} });
  });
}

// Registered before the package's routes (see the header comment).
routes.unshift(clientRoutes, botRoutes);

// ------------------------------------------------------------------------------- main

function option(name, envName, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  return process.env[envName] || fallback;
}

async function main() {
  const port = Number(option('port', 'EMULATOR_PORT', '0'));
  const host = option('host', 'EMULATOR_HOST', '127.0.0.1');
  // storeTimeout: the package drops messages older than this (default 60 s), which
  // would make the chat state of a long test forget its first messages.
  const server = new EmulatorServer({ port, host, storeTimeout: 24 * 3600 });
  // normalizeConfig turns port 0 into 9000; listen on the requested port (0 = any free).
  server.config.port = port;
  await server.start();
  const actual = server.server.address().port;
  server.config.port = actual;
  server.config.apiURL = `${server.config.protocol}://${host}:${actual}`;
  process.stdout.write(`READY ${actual}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3000).unref(); // a stuck keep-alive must not block
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`emulator failed to start: ${error.stack || error}\n`);
  process.exit(1);
});
