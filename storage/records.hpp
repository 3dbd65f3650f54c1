#pragma once
// Plain records the storage interface reads and writes for the IM core (RFC 6121 and its XEPs).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/roster_item.hpp"

namespace hush::storage {

// The roster's own types are protocol's (RFC 6121); storage keeps them as they are.
using hush::roster_item;
using hush::subscription;

// The changes since a roster version, for versioned roster gets (RFC 6121 §2.6).
struct roster_delta {
    std::int64_t current_version = 0;
    std::vector<roster_item> changed;  // including removed ones (removed = true)
};

// An inbound subscription request kept until the user answers it: the "invites" anti-SPIM gates.
struct subscription_request {
    std::string from;    // bare JID of the requester
    std::string stanza;  // the serialized presence stanza, redelivered at the next login
    std::int64_t received_at = 0;
};

struct offline_message {
    std::int64_t id = 0;
    std::string stanza;  // serialized message stanza as it would have been delivered (see from_archive)
    std::int64_t stored_at = 0;  // unix seconds, for the XEP-0203 delay stamp
    // The account's archive item (XEP-0313) holding the same message, when it was archived as it went offline.
    std::optional<std::int64_t> archive_id;
    // `stanza` is the archive item's: the message without its <stanza-id/> (the row's own copy was dropped once
    // the item was written), which the reader adds back from archive_id.
    bool from_archive = false;
};

struct last_activity {
    std::int64_t logout_at = 0;  // unix seconds
    std::string status;
};

// One entry of the server-wide blocklist.
struct blocklist_entry {
    std::string kind;   // "jid" (bare), "domain" (and its subdomains), "ip" (an address or CIDR range)
    std::string value;  // normalized: nameprepped JID/domain, canonical range "192.0.2.0/24"
    std::string reason;
    std::string source;  // "admin", "user consensus", "dos detector", "report", "import:<url>", ...
    std::int64_t added_at = 0;    // unix seconds
    std::int64_t expires_at = 0;  // unix seconds; 0 = never
    bool contacts_too = false;    // also refuse stanzas from the receivers' existing contacts
    // What a match does — "block", "greylist" or "challenge": an imported entry takes its source's trust; a stored
    // one keeps its own (the DoS detector greylists ranges, everything else stored blocks).
    std::string trust = "block";

    bool operator==(const blocklist_entry&) const = default;
};

// A local user's judgement of a sender, counted towards user consensus: a block (XEP-0191), a spam report
// (XEP-0377) or a challenge lockout. One per (voter, sender, kind); a repeat refreshes `at`.
struct spam_vote {
    std::string voter;          // local bare JID
    std::string sender;         // bare JID judged
    std::string sender_domain;  // its domain, for counting senders per domain
    std::string kind;           // "block", "report", "lockout"
    std::int64_t at = 0;        // unix seconds
    std::int64_t weight = 100;  // the voter's standing in hundredths: 100 = an account of age and contacts, 0 = none
};

// What user consensus counts about one sender and its domain within a window. Weights are summed over distinct
// voters (each voter counts once, with the largest weight it voted with), in hundredths.
struct spam_vote_tally {
    std::int64_t sender_weight = 0;   // the voters against this sender
    std::int64_t domain_senders = 0;  // distinct senders of the domain voted against by a voter of any standing > 0
    std::int64_t domain_weight = 0;   // the voters against any sender of the domain
};

// The content policy's Bayes model as stored: how many messages of each class it learnt from, and per token (a
// keyed 64-bit hash of the word, never the word) how many of those messages had it.
struct content_token {
    std::int64_t token = 0;
    std::int64_t spam = 0;
    std::int64_t ham = 0;
};
struct content_model {
    std::int64_t spam_messages = 0;
    std::int64_t ham_messages = 0;
    std::vector<content_token> tokens;
};

// An XEP-0377 spam or abuse report, as the reporting user sent it.
struct spam_report {
    std::int64_t id = 0;  // assigned when stored
    std::string reporter;  // local bare JID
    std::string reported;  // bare JID
    std::string reason;    // "spam" or "abuse"
    std::string text;      // the user's words, if any
    std::vector<std::string> stanza_ids;  // XEP-0359 ids of the reported stanzas ("by id")
    std::int64_t at = 0;

    bool operator==(const spam_report&) const = default;
};

// A local account outbound protection acted on.
struct account_flag {
    std::string account;  // bare JID
    std::string state;    // "flagged" (throttled for a while) or "suspended" (until an admin clears it)
    std::string reason;
    std::int64_t at = 0;

    bool operator==(const account_flag&) const = default;
};

// A stranger's stanza held for a receiver until the sender passes the challenge (anti-SPIM). A "request" is all
// the stanzas one sender has held for one receiver.
struct held_stanza_record {
    std::int64_t id = 0;  // grows with every stanza held: ties of held_at go by id
    std::string sender;   // bare JID
    std::int64_t held_at = 0;  // unix seconds
    std::string xml;

    bool operator==(const held_stanza_record&) const = default;
};

// Caps for add_held_stanza. Counts are stanzas; 0 leaves a cap out.
struct held_limits {
    std::size_t max_per_sender = 10;           // per (receiver, sender): beyond it the sender is refused
    std::size_t max_per_receiver = 0;          // per receiver: beyond it its oldest request goes
    std::int64_t max_bytes_per_receiver = 0;   // per receiver, bytes of xml: likewise
    std::size_t max_total = 0;                 // the whole server: beyond it the oldest request anywhere goes
    std::int64_t expire_before = 0;            // the receiver's stanzas held before this (unix s) go first; 0: none
};

// One request deleted to make room, so the server can tell its sender.
struct evicted_request {
    std::string domain;    // the receiver
    std::string username;
    std::string sender;    // bare JID
    std::int64_t stanzas = 0;

    bool operator==(const evicted_request&) const = default;
};

struct hold_outcome {
    enum class kind {
        held,         // kept, nothing else touched
        evicted,      // kept, after deleting the requests in `evicted`
        sender_full,  // not kept: the sender already has max_per_sender held for this receiver
        no_room,      // not kept: evicting every other request would still not make room (too big, say)
    };
    kind what = kind::held;
    std::vector<evicted_request> evicted;

    bool kept() const { return what == kind::held || what == kind::evicted; }
};

// Over the whole server, for metrics.
struct held_totals {
    std::int64_t requests = 0;  // (receiver, sender) pairs with something held
    std::int64_t stanzas = 0;
    std::int64_t bytes = 0;
};

// An invitation to register (XEP-0445 token, XEP-0401 invite). Only a SHA-256 of the token is stored.
struct registration_invite {
    std::string token_sha256;  // hex; its first 12 characters are the invite's public id
    std::string domain;        // the host it registers on
    std::string username;      // the one local part it may register (reserved meanwhile); empty: any
    std::string inviter;       // the local bare JID that invited (XEP-0401); empty: an administrator
    std::int64_t uses_left = 1;
    std::int64_t uses_total = 1;
    std::int64_t created_at = 0;  // unix seconds
    std::int64_t expires_at = 0;  // unix seconds; 0 = never

    bool operator==(const registration_invite&) const = default;
};

// An account created in-band, for register_account: created, with an invite's use taken, and left pending an
// administrator's approval, all in one transaction.
struct new_registration {
    std::string domain;
    std::string username;
    std::string invite_sha256;  // empty: registered without a token
    bool pending = false;       // cannot log in until approved
    std::string address;        // where it registered from (for the admin deciding)
    std::int64_t now = 0;
};

enum class registration_status {
    created,
    taken,           // the account exists, or a live invite reserves the name for someone else
    invite_refused,  // the invite has no use left, is for another host or another name, or is gone
};

// A XEP-0484 FAST token's row (migration 12): which client holds it, for what mechanism, until when.
struct fast_token {
    std::string agent_id;  // the client's XEP-0388 user-agent id
    std::string token_id;  // random; the token is derived from it (protocol/fast.hpp)
    std::string mechanism;         // the HT mechanism it was asked for: the only one it works with
    std::int64_t created_at = 0;   // unix microseconds
    std::int64_t expires_at = 0;   // unix seconds
    std::int64_t last_count = -1;  // the highest count a login with it gave; -1: none
    std::int64_t used_at = 0;      // unix microseconds of its last login; 0: never used

    bool operator==(const fast_token&) const = default;
};

// An account waiting for an administrator's approval.
struct pending_account {
    std::string domain;
    std::string username;
    std::int64_t requested_at = 0;
    std::string address;

    bool operator==(const pending_account&) const = default;
};


// XEP-0313 message archive (storage/sql_archive_store.cpp). An item's id is the microsecond (unix time) it was
// archived at, unique per account: it orders the archive, is its XEP-0359 stanza-id, and makes a time range an id
// range, so one index serves paging and time filters.
enum class archive_direction { incoming, outgoing };

struct archived_message {
    std::int64_t id = 0;
    std::string with;  // the other party's bare JID
    archive_direction direction = archive_direction::incoming;
    std::string stanza;  // the message as delivered (or sent), serialized

    bool operator==(const archived_message&) const = default;
};

// One page of an archive query. Bounds are ids (inclusive start/end, exclusive after/before); all optional.
struct archive_query {
    std::string with;  // a bare JID, or empty for every party
    std::optional<std::int64_t> start;
    std::optional<std::int64_t> end;
    std::optional<std::int64_t> after;   // forward paging from here (RSM <after/>)
    std::optional<std::int64_t> before;  // backward paging to here (RSM <before/>)
    bool backward = false;               // the last `max` items instead of the first (RSM <before/>, empty or not)
    std::vector<std::int64_t> ids;       // only these items (XEP-0313 "ids"), when not empty
    std::vector<std::int64_t> references;  // more ids that must name items (after-id and <after/> both given)
    std::size_t max = 50;
    // A page also stops (not complete) once its items' stanzas, each counted with `item_overhead` more bytes,
    // would pass `max_bytes` (the first item always fits): rows past it are not read. 0: no such bound.
    std::size_t max_bytes = 0;
    std::size_t item_overhead = 0;
    bool count = false;                  // also count every item matching with/start/end (and ids, when given)
};

struct archive_page {
    std::vector<archived_message> items;  // oldest first, whichever way the query pages
    bool complete = false;                // the page reaches the end of the result set in its direction
    bool unknown_reference = false;       // `after`, `before` or a reference names no item (nothing else is set)
    std::optional<std::int64_t> count;
};

// XEP-0313 §7 archiving preferences: the default, then JIDs always or never archived (bare JIDs, sorted).
enum class archive_default { always, roster, never };

// The names XEP-0313 (and the stored preferences) give the defaults.
inline std::string_view to_string(archive_default mode) {
    switch (mode) {
    case archive_default::always: return "always";
    case archive_default::roster: return "roster";
    case archive_default::never: return "never";
    }
    return "always";
}

// nullopt for anything but the three names.
inline std::optional<archive_default> parse_archive_default(std::string_view name) {
    if (name == "always") {
        return archive_default::always;
    }
    if (name == "roster") {
        return archive_default::roster;
    }
    if (name == "never") {
        return archive_default::never;
    }
    return std::nullopt;
}

struct archive_prefs {
    archive_default mode = archive_default::always;
    std::vector<std::string> always;
    std::vector<std::string> never;

    bool operator==(const archive_prefs&) const = default;
};

// XEP-0060 publish-subscribe (storage/sql_pubsub_store.cpp, migration 13). `host` is an account's bare JID
// "user@domain" for its PEP nodes (deleted with the account) or a service's domain ("pubsub.example.org").
struct pubsub_node_record {
    std::string host;
    std::string node;
    std::string config;           // opaque to storage: the engine's serialized node configuration
    std::string owner;            // bare JID of the creator ("" for the server itself)
    std::int64_t created_at = 0;  // unix seconds

    bool operator==(const pubsub_node_record&) const = default;
};

struct pubsub_item_record {
    std::string id;
    std::string publisher;            // the publisher's JID
    std::string payload;              // serialized XML of the item's payload element ("" when none)
    std::int64_t published_at = 0;    // unix microseconds; the order of items (a replaced item moves to newest)

    bool operator==(const pubsub_item_record&) const = default;
};

struct pubsub_subscription_record {
    std::string node;
    std::string jid;    // as subscribed: full or bare, normalized
    std::string subid;
    std::string state;  // "subscribed", "pending", "unconfigured"

    bool operator==(const pubsub_subscription_record&) const = default;
};

struct pubsub_affiliation_record {
    std::string node;
    std::string jid;          // bare, normalized
    std::string affiliation;  // "owner", "publisher", "publish-only", "member", "outcast"

    bool operator==(const pubsub_affiliation_record&) const = default;
};

// XEP-0045: a persistent room on a MUC service (storage/sql_muc_store.cpp, migration 14). Temporary rooms are never
// stored.
struct muc_room_record {
    std::string service;          // the MUC service's domain, e.g. "conference.example.org"
    std::string room;             // the room's localpart (already normalized by the caller)
    std::string config;           // opaque to storage: the engine's serialized room configuration
    std::string subject;          // the room's subject ("" none)
    std::string subject_by;       // the nick that set it
    std::int64_t created_at = 0;  // unix seconds

    bool operator==(const muc_room_record&) const = default;
};

struct muc_affiliation_record {
    std::string jid;          // bare JID or a domain
    std::string affiliation;  // "owner", "admin", "member" or "outcast"
    std::string nick;         // reserved nick (room registration), "" none
    std::string reason;

    bool operator==(const muc_affiliation_record&) const = default;
};

// A JID banned from every room of a service by an admin.
struct muc_service_ban_record {
    std::string service;
    std::string jid;  // bare JID or a domain
    std::string reason;
    std::int64_t created_at = 0;  // unix seconds

    bool operator==(const muc_service_ban_record&) const = default;
};

// XEP-0363 HTTP file upload (storage/sql_upload_store.cpp, migration 16): one row per slot handed out, which
// becomes the stored file's row once its PUT completed.
enum class upload_state { pending, uploading, stored };

struct upload_record {
    std::string id;             // 32 lower-case hex digits (128 random bits): the file's name on disk too
    std::string secret_sha256;  // hex SHA-256 of the PUT's bearer secret (the secret itself is never stored)
    std::string domain;         // the account that asked for the slot
    std::string username;
    std::string filename;
    std::int64_t size = 0;
    std::string content_type;       // "" when the client named none
    upload_state state = upload_state::pending;
    std::int64_t created_at = 0;   // unix seconds
    std::int64_t expires_at = 0;   // pending/uploading: the slot's deadline; stored: when the file is deleted
    std::int64_t uploaded_at = 0;  // 0 until stored

    bool operator==(const upload_record&) const = default;
};

// What one account may hold: bytes stored or promised (live slots), live slots not yet uploaded, slots asked for
// in the last minute.
struct upload_limits {
    std::int64_t quota_bytes = 0;
    std::int64_t max_pending = 0;
    std::int64_t max_per_minute = 0;
};

enum class upload_slot_status { created, quota_exceeded, too_many_pending, too_many_per_minute };

struct upload_slot_outcome {
    upload_slot_status status = upload_slot_status::created;
    std::int64_t used_bytes = 0;  // the account's bytes before this slot (stored and live slots)
};

// One account's uploads (hushctl upload stats).
struct upload_usage {
    std::string domain;
    std::string username;
    std::int64_t files = 0;    // stored
    std::int64_t bytes = 0;    // stored
    std::int64_t pending = 0;  // slots not (yet) uploaded, expired or not

    bool operator==(const upload_usage&) const = default;
};

}  // namespace hush::storage
