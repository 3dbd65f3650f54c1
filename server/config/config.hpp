#pragma once
// hush.toml, validated once at start-up into an immutable value. Unknown keys are errors; every error names
// file, line, column and key.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "antispim/config.hpp"
#include "protocol/expected.hpp"
#include "server/config/endpoint_spec.hpp"
#include "storage/store.hpp"

namespace hush {

struct listener_config {
    // Config names: "c2s", "c2s_direct_tls", "s2s", "s2s_direct_tls" (XEP-0368), "http" (blocklist.xml, metrics,
    // the admin API, XMPP over WebSocket, XEP-0156 discovery, uploads) and "https" (the same over TLS; default 5281).
    enum class kind { c2s_starttls, c2s_direct_tls, s2s_starttls, s2s_direct_tls, http, https };
    kind type = kind::c2s_starttls;
    std::string address = "127.0.0.1";
    // 0: an ephemeral port (tests); the bound port is printed. Default by kind: 5222, 5223, 5269, 5270, 5280, 5281.
    std::uint16_t port = 5222;

    bool is_s2s() const { return type == kind::s2s_starttls || type == kind::s2s_direct_tls; }
    bool is_direct_tls() const { return type == kind::c2s_direct_tls || type == kind::s2s_direct_tls; }
    bool is_http() const { return type == kind::http || type == kind::https; }
};

// The web side shared by the http and https listeners ([http], docs/web.md).
struct http_config {
    // Reverse proxies (canonical IPs) whose X-Forwarded-For and X-Forwarded-Proto are believed: the client's address
    // (per-IP limits, logs) and whether it came over TLS. Nobody else's forwarding headers count.
    std::vector<std::string> trusted_proxies;
    // The address browsers reach this server at ("https://chat.example.org", no trailing slash), for XEP-0156
    // discovery and upload URLs; empty: taken from each request's Host and listener.
    std::string public_url;
};

// RFC 7395 XMPP over WebSocket at /xmpp-websocket on the http listeners ([websocket], docs/web.md).
struct websocket_config {
    bool enabled = true;
    // Origins (scheme://host[:port]) whose pages may open a session; "*" any. A handshake without Origin (not a
    // browser) is always allowed: the Origin check protects browsers' users, it authenticates nobody.
    std::vector<std::string> allowed_origins{"*"};
};

struct tls_config {
    // Empty: a self-signed ECDSA P-256 certificate is generated in data_dir on first run.
    std::filesystem::path certificate;
    std::filesystem::path key;
    std::string min_version = "1.2";  // "1.2" or "1.3"
};

struct limits_config {
    std::size_t max_stanza_bytes = 256 * 1024;
    std::size_t max_depth = 32;                // element nesting inside one stanza
    std::size_t max_connections_per_ip = 32;
    std::size_t max_outbox_bytes = 1024 * 1024;  // per session; overflow closes the stream
    std::size_t max_offline_messages = 1000;     // per account (XEP-0160); beyond it senders get <resource-constraint/>
    std::chrono::seconds handshake_timeout{60};  // from connect to bound resource
    std::chrono::seconds idle_timeout{600};      // no bytes at all for this long closes the stream
    unsigned auth_failures_per_connection = 3;   // then the stream is closed
    unsigned auth_failures_before_delay = 3;     // per IP within a window, then answers are slowed down
};

// XEP-0198 stream management ([stream_management], docs/stream-management.md).
struct stream_management_config {
    bool enabled = true;
    std::chrono::seconds resume_timeout{300};  // how long a dropped session waits to be resumed (a client may ask less)
    std::size_t max_unacked = 500;             // stanzas kept for a session until the client acknowledges them
    std::size_t max_unacked_bytes = 512 * 1024;  // ... and their bytes (at most half of [limits] max_outbox_bytes:
                                                 // all of it is sent again at once on resumption)
    std::size_t ack_after_stanzas = 5;         // the server asks for an ack after this many unacknowledged stanzas
    std::chrono::seconds ack_after{3};         // ... or when one has waited this long
    std::chrono::seconds ack_timeout{60};      // an ack request unanswered this long: the connection is dead
    std::size_t max_detached = 10000;          // sessions waiting to be resumed at once, server-wide
    std::size_t max_detached_per_account = 10;  // ...and for one account
};

// XEP-0357 push notifications ([push], docs/push.md). The summary is message-count only unless the admin lets
// it carry the sender or the body (which then pass through the client vendor's app server and the phone's push
// service).
struct push_config {
    bool enabled = true;
    bool include_sender = false;
    bool include_body = false;
    std::size_t max_registrations = 5;  // per account
};

struct sasl_config {
    std::uint32_t scram_iterations = 4096;  // for new credentials; at least 4096
    bool allow_plain = true;                // PLAIN is offered only inside TLS
    // Refuse SCRAM's "y" flag while -PLUS is offered (RFC 5802 §6 downgrade protection); off by default because
    // clients that can bind only to tls-unique (absent from TLS 1.3) say "y" too.
    bool strict_channel_binding = false;
    // XEP-0484 FAST (docs/fast.md): tokens a client asks for in SASL2 and logs in with in one round trip.
    bool fast = true;
    std::int64_t fast_token_lifetime = 30 * 24 * 3600;  // seconds; a token used past half of it is replaced
    std::size_t fast_max_clients = 20;                   // per account; the least recently active client goes first
};

// Who may create an account in-band (XEP-0077; docs/registration.md). Password changes and account removal by a
// logged-in user are account management and work whatever `mode` says.
enum class registration_mode {
    closed,  // nobody: accounts come from hushctl adduser
    invite,  // only with a valid invitation token (XEP-0445 / XEP-0401)
    open,    // anyone, behind the CAPTCHA, the limits and the reserved names (a token skips all three)
};

struct registration_config {
    registration_mode mode = registration_mode::closed;
    // Successful registrations without a token per window: from one address, one IPv4 /24 or IPv6 /64, and in all.
    std::size_t max_per_ip = 5;
    std::size_t max_per_network = 10;
    std::size_t max_total = 100;
    std::chrono::minutes window{60};
    std::size_t min_password_length = 8;  // in characters (Unicode code points), after SASLprep
    // Open mode: a XEP-0158 question/answer CAPTCHA in the registration form.
    bool captcha = true;
    // Accounts registered without a token wait for an admin's approval before they can log in.
    bool approval = false;
    // Local parts nobody may register (nodeprepped): the defaults plus the configured ones.
    std::vector<std::string> reserved_names;
    // XEP-0401: live invitations one user may hold at a time (0: users cannot invite), and how long they last.
    std::size_t invites_per_user = 5;
    std::chrono::hours invite_expiry{24 * 7};
};

// Federation ([s2s]). TLS is always required on server-to-server streams; what varies is whether the peer's
// certificate must be valid (then SASL EXTERNAL, or dialback backed by the certificate) or dialback alone will do.
struct s2s_config {
    // Peers must present a certificate valid for their domain (RFC 6125) chained to a trusted CA, in both
    // directions. Off by default: small deployments use self-signed certificates and dialback.
    bool require_valid_certificates = false;
    // Per remote domain (nameprepped, lower case) overrides of require_valid_certificates: [s2s.domains."x"].
    std::map<std::string, bool> require_valid_certificate_for;
    // Extra trusted CAs (PEM, absolute after loading), besides the system store.
    std::filesystem::path ca_file;
    // [s2s.hosts]: remote domain (nameprepped, lower case) → where to connect, replacing DNS SRV for it. Values are
    // "host:port", "[v6]:port", "host", or with a "tls:" prefix for direct TLS; a string or an array of them.
    std::map<std::string, std::vector<endpoint_spec>> hosts;
    // Local addresses outgoing streams connect from (at most one IPv4 and one IPv6; a peer of the other family is
    // reached from the kernel's choice): for a host with several addresses, whose peers must see a fixed one.
    std::vector<std::string> source_addresses;
    // c-ares server list ("ip:port,...") for SRV/A/AAAA lookups; empty: the system's resolv.conf.
    std::string dns_servers;
    // DNS, TCP, TLS and authentication of an outgoing stream must finish within this; queued stanzas then bounce
    // with <remote-server-timeout/>.
    std::chrono::seconds connect_timeout{30};
    // An outgoing stream that carried no stanza for this long is closed (reopened on demand).
    std::chrono::seconds idle_timeout{300};
    // Stanzas queued per remote domain while its stream is set up; more bounce with <resource-constraint/>.
    std::size_t max_queued_stanzas = 1000;
    // After a failed attempt, stanzas for that domain bounce at once for this long, doubling per failure up to
    // retry_max; a success resets it.
    std::chrono::seconds retry_initial{5};
    std::chrono::seconds retry_max{300};

    bool requires_valid_certificate(const std::string& domain) const {
        const auto it = require_valid_certificate_for.find(domain);
        return it != require_valid_certificate_for.end() ? it->second : require_valid_certificates;
    }
};

// XEP-0313 message archive ([mam]; docs/mam.md).
struct mam_config {
    bool enabled = true;
    // What is archived for an account that set no preferences: "always", "roster" (only contacts) or "never".
    storage::archive_default default_mode = storage::archive_default::always;
    std::size_t default_page = 50;   // items per page when the query names no <max/>
    std::size_t max_page = 100;      // a larger <max/> is cut to this
    std::int64_t retention_days = 0;  // items older than this are deleted by the sweep; 0 keeps them forever
    std::size_t max_items_per_user = 1000000;  // the sweep keeps each account's newest this many; 0: no cap
    std::chrono::seconds sweep_interval{3600};
};

// XEP-0060 publish-subscribe and XEP-0163 PEP ([pubsub]; docs/pubsub.md): every account's personal eventing
// nodes and a service for everyone's nodes at `service`.
struct pubsub_config {
    bool enabled = true;
    // The service's domain: "pubsub.<first host>" when not configured; empty: no service (PEP stays).
    std::string service;
    bool service_configured = false;
    // Who may create nodes on the service: "local" (accounts of this server) or "admins" ([server] admins).
    bool service_creators_admins_only = false;
    std::size_t max_items_per_node = 256;      // a node's max_items cannot exceed it ("max" means it)
    std::size_t max_nodes_per_account = 128;    // PEP nodes of one account
    std::size_t max_service_nodes = 10000;      // nodes on the service
    std::size_t max_payload_bytes = 128 * 1024;  // one item's payload (avatars are the largest)
    std::size_t max_subscriptions_per_node = 10000;
    std::size_t max_subscriptions_per_jid = 1000;  // one JID's subscriptions on the service
};

// XEP-0045 multi-user chat ([muc]): one room service per configured domain, and the bounds that keep its state and
// its rooms' traffic in check.
struct muc_config {
    bool enabled = true;
    // The MUC services' domains: "conference.<host>" for every host in server.hosts when not configured.
    std::vector<std::string> services;
    bool services_configured = false;
    bool room_creators_admins_only = false;      // "local" (this server's accounts, default) or "admins"
    std::size_t max_rooms = 10000;                // rooms (persistent + temporary) per service
    std::size_t max_rooms_per_owner = 100;        // rooms one account may own (create) per service
    std::size_t max_occupants = 200;              // default room size; a room's config may go up to max_occupants_limit
    std::size_t max_occupants_limit = 1000;
    std::size_t history_size = 20;                // messages a room keeps for history on join (0..200)
    // Anti-SPIM: each occupant's groupchat messages and private messages through the room, a token bucket.
    std::size_t flood_messages_per_minute = 30;   // 0: no limit
    std::size_t flood_burst = 10;
    // New occupants of public rooms without an affiliation join as visitors (no voice) until a moderator voices them
    // or this much time has passed since their first join; false: participants at once.
    bool new_occupants_visitors = false;
    std::chrono::seconds visitor_period{300};
    std::size_t max_rooms_per_user = 100;         // rooms one JID may be in at once per service (bounds state)
};

// XEP-0363 HTTP file upload ([upload]; docs/upload.md): a service per host that hands out slots, and the files it
// serves over the http(s) listener under /upload/.
struct upload_config {
    bool enabled = true;
    // The services' domains: "upload.<host>" for every host when not configured; service_hosts[i] is the host whose
    // accounts may use services[i] (the host it is a subdomain of).
    std::vector<std::string> services;
    std::vector<std::string> service_hosts;
    std::filesystem::path directory;                   // absolute; "<data_dir>/uploads" when not configured
    std::uint64_t max_file_size = 104857600;           // bytes per file
    std::uint64_t quota_per_user = 1073741824;         // stored and pending bytes per account
    std::chrono::seconds expire_after{604800};         // a stored file is deleted this long after its upload
    std::chrono::seconds slot_timeout{300};            // the PUT must start within this after the slot was given
    // Exact types ("image/png") or prefixes ("image/*"), lower case; empty: any type.
    std::vector<std::string> allowed_content_types;
    // The base of the slots' URLs, without a trailing slash. Configured, or derived from a listener
    // (public_url_listener: its index, -1 when configured): "https://<host>:<port>" of the first https listener, else
    // "http://<address>:<port>" of the first http listener — the port the listener bound, known only at run time.
    std::string public_url;
    int public_url_listener = -1;
    std::size_t max_slots_per_minute = 30;  // slots one account may ask for per minute
    std::size_t max_pending_slots = 10;     // slots of one account not yet uploaded
    std::vector<std::string> cors_origins{"*"};  // origins browsers may upload from ("*": any)
};

struct config {
    std::filesystem::path source;   // the file this came from
    std::vector<std::string> hosts;  // virtual hosts, nameprepped
    std::vector<std::string> admins;  // bare JIDs told about automatic blocks and flagged accounts
    std::filesystem::path data_dir;  // absolute (relative paths in the file resolve against its directory); "../var"
    unsigned threads = 0;            // 0: one per core
    std::string log_level = "info";  // trace, debug, info, warn, error
    tls_config tls;
    std::vector<listener_config> listeners;
    limits_config limits;
    sasl_config sasl;
    storage::store_options storage;  // sqlite_path absolute (storage.path resolved against data_dir); pool_size 4
    antispim_config antispim;
    registration_config registration;
    s2s_config s2s;
    stream_management_config stream_management;
    push_config push;
    pubsub_config pubsub;
    muc_config muc;
    mam_config mam;
    http_config http;
    websocket_config websocket;
    upload_config upload;
};

// Loads and validates; on error returns one line "FILE:LINE:COL: KEY: what is wrong" (the earliest in the file),
// "FILE:LINE:COL: <toml++ description>" for TOML syntax errors, or "FILE: cannot read: <reason>".
hush::expected<config, std::string> load_config(const std::filesystem::path& path);

}  // namespace hush
