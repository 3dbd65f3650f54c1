#pragma once
// The [antispim] section of hush.toml as a value: the chain, local trust, held stanzas, the Bot Challenge default
// and every server-wide defence. Parsed and validated by the server's config loader (server/config/config_antispim.cpp);
// the anti-SPIM layer only reads it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "antispim/challenge_settings.hpp"
#include "antispim/challenge_texts.hpp"

namespace hush {

struct antispim_config {
    std::vector<std::string> chain{"blocklist", "dos", "rate", "content", "challenge"};  // ordered policy names
    std::vector<std::string> dry_run;             // policies that only log what they would do
    // Established accounts on this server are no strangers to each other: accounts at least trusted_after old
    // with at least trusted_min_contacts mutual (subscription both) contacts. Newer accounts are judged like
    // remote strangers (a fresh account is what a spammer registers). trusted_after = 0 trusts every account.
    bool trust_local_users = true;
    std::chrono::hours trusted_after{24 * 7};
    std::size_t trusted_min_contacts = 1;
    // The Bot Challenge for users who set none of their own ([antispim.challenge]).
    antispim::challenge_settings challenge;
    // What the challenge says, in the default language and any others ([antispim.texts]).
    antispim::challenge_wording wording;
    // Stanzas held per sender and receiver while the sender is challenged, and for how long.
    std::size_t max_held_per_sender = 10;
    std::chrono::hours held_expiry{24 * 7};
    // Caps on what strangers can make the server keep: per receiver (stanzas and bytes) and over the whole server.
    // At a cap the oldest request goes first (its sender is told); 0 means no cap.
    std::size_t max_held_per_receiver = 200;
    std::int64_t max_held_bytes_per_receiver = 4 * 1024 * 1024;
    std::size_t max_held_total = 100000;
    // Not an [antispim] key: [limits] max_offline_messages, for the notice the layer keeps offline itself.
    std::size_t offline_quota = 1000;
    // The sweeper: challenge states not written for state_expiry and first-contact notes unused for contact_expiry
    // are deleted (a contact who keeps talking keeps the note; an approval outlives the state once the receiver
    // has answered, since that answer is a contact note).
    std::chrono::hours state_expiry{24 * 90};
    std::chrono::hours contact_expiry{24 * 365};
    std::chrono::seconds sweep_interval{3600};

    // DoS detection ([antispim.dos]): one sender reaching this many distinct local users with stranger stanzas
    // within the window is blocked server-wide for block_hours; so is a remote domain or network, if challenges hold
    // evidence against it — at least evidence_senders of its senders were locked out by one within evidence_window,
    // more than passed. Without it (a conference, a new team writing to many people at once) its senders are each challenged.
    struct dos_limits {
        std::size_t distinct_receivers = 20;
        std::chrono::seconds window{600};
        std::chrono::hours block_for{24};
        std::size_t evidence_senders = 3;
        std::chrono::seconds evidence_window{3600};
        // The tries a sender of a service or network with that evidence gets, whatever its receiver allows
        // (0: as many as the receiver allows).
        unsigned suspect_tries = 1;
    } dos;

    // Greylisting ([antispim.greylist], the "greylist" policy): strangers' first contacts from these ranges wait.
    struct greylist_options {
        std::vector<std::string> ranges;  // CIDR ranges or addresses, validated
        unsigned ipv4_prefix = 24;        // the network a peer is counted in
        unsigned ipv6_prefix = 48;
        std::chrono::seconds retry_after{300};
    } greylist;

    // Other servers' published lists to follow ([[antispim.import]]).
    struct import_source {
        std::string url;                // http://host[:port]/path
        std::string format = "hush";    // "hush" (urn:hush:blocklist:0 XML) or "domains" (one domain per line)
        std::chrono::seconds interval{3600};
        std::string trust = "block";    // what its entries do: "block", "greylist" or "challenge"
        // The published evidence kinds to take (antispim::evidence_kinds); empty: every entry.
        std::vector<std::string> evidence;
    };
    std::vector<import_source> imports;

    // XEP-0060 real-time blocklists to follow ([[antispim.rtbl]]): a pubsub service whose nodes list spam sources,
    // item id = the source; subscribed to (pushes) and fetched again every resync interval.
    struct rtbl_source {
        std::string service;  // the pubsub service's JID ("xmppbl.org")
        // spam_source_domains (item id: a domain), spam_source_jids_sha256 (hex SHA-256 of a bare JID),
        // spam_source_ips (an address or CIDR range)
        std::vector<std::string> nodes{"spam_source_domains", "spam_source_jids_sha256", "spam_source_ips"};
        std::string trust = "block";
        std::chrono::seconds resync{3600};
    };
    std::vector<rtbl_source> rtbls;

    // Rate policy ([antispim.rate], the "rate" policy): token buckets for strangers' invitations and messages.
    struct rate_limit {
        std::uint32_t count = 0;  // the bucket (burst); 0: no limit
        std::chrono::seconds per{60};  // refilled evenly over this
    };
    struct rate_limits {
        rate_limit sender, domain, ip, receiver;  // per sender bare JID, remote domain, source IP, local receiver
    };
    struct rate_options {
        bool defer = false;  // exceeded: a wait error (retry later) instead of a <policy-violation/> rejection
        rate_limits invites{{5, std::chrono::seconds{60}}, {60, std::chrono::seconds{60}},
                            {60, std::chrono::seconds{60}}, {20, std::chrono::seconds{60}}};
        rate_limits messages{{30, std::chrono::seconds{60}}, {300, std::chrono::seconds{60}},
                             {300, std::chrono::seconds{60}}, {60, std::chrono::seconds{60}}};
    } rate;

    // User consensus ([antispim.consensus]): K distinct local users blocking, reporting or locking out one sender
    // put it on the server-wide list; so do K distinct senders of one remote domain judged so.
    struct consensus_options {
        bool enabled = true;
        bool dry_run = false;  // only log (and count) what would be blocked
        std::size_t users = 3;           // weighted voters against one sender
        std::size_t domain_senders = 5;  // distinct senders of a remote domain judged by voters of some standing
        std::size_t domain_voters = 3;   // weighted voters against the senders of a remote domain
        // A voter's weight (its standing): 1 for an account at least voter_min_age old with voter_min_contacts
        // mutual contacts, less for a younger or lonelier one (the product of both fractions), so a few throwaway
        // accounts cannot blocklist anyone.
        std::chrono::hours voter_min_age{7 * 24};
        std::size_t voter_min_contacts = 2;
        std::chrono::seconds window{7 * 24 * 3600};
        std::chrono::hours block_for{7 * 24};
        bool count_lockouts = true;  // a sender the challenge blocked for good counts as a vote
    } consensus;

    // Outbound protection ([antispim.outbound]): a local account contacting many strangers (compromised, or a
    // spammer who registered here) is throttled and flagged, then suspended until an admin clears it.
    struct outbound_options {
        bool enabled = true;
        bool dry_run = false;
        std::chrono::seconds window{3600};
        std::size_t throttle_at = 30;  // distinct strangers contacted within the window
        std::size_t suspend_at = 100;
        std::chrono::hours new_account{24 * 7};  // accounts younger than this get the tighter limits below
        std::size_t new_throttle_at = 10;
        std::size_t new_suspend_at = 30;
    } outbound;

    // Content scoring ([antispim.content], the "content" policy): what a stranger's message says, scored by a
    // SpamAssassin spamd, the built-in Bayes classifier and URL/domain lists.
    struct content_options {
        std::string spamd;  // "host:port"; empty: no spamd
        std::chrono::milliseconds spamd_timeout{3000};  // connecting, sending and answering, together
        std::string spamd_fail = "pass";  // spamd down, slow or busy: "pass" (no content score) or "hold"
        std::size_t spamd_connections = 4;  // checks at once; more are not made (the fail mode applies)
        double spamd_weight = 1.0;          // points per point of spamd's score
        bool bayes = true;
        std::size_t bayes_min_messages = 20;  // of each class before it scores
        std::size_t bayes_max_tokens = 200000;
        double bayes_weight = 12.0;  // points at a spam probability of 1 (and minus them at 0)
        std::vector<std::string> url_lists;  // files: one domain or URL per line
        double url_weight = 10.0;            // points per listed domain linked
        bool local_first_contacts = false;   // judge local senders' first contacts too (not only strangers)
    } content;

    // The combined score ([antispim.score]): the content policy adds what the other defences know of the sender to
    // the content's points, and the sum decides. Below challenge_at: no objection (the receiver's own challenge
    // settings apply); from challenge_at: the sender is challenged even if the receiver lets strangers through;
    // from hold_at: held as a message request with no challenge to answer (only the receiver can release it);
    // from reject_at: refused.
    struct score_options {
        double challenge_at = 5.0;
        double hold_at = 10.0;
        double reject_at = 20.0;
        double listed = 3.0;       // a server-wide entry challenges or greylists the sender or its network
        double reputation = 3.0;   // challenges hold evidence against the sender's service or network
        double behaviour = 4.0;    // at the DoS limit of distinct receivers (less, in proportion, below it)
        double new_account = 2.0;  // a local sender younger than [antispim.outbound] new_account_hours (as the
                                   // outbound guard's read found it)
        double rate = 4.0;         // × the share of a rate bucket used, from half a bucket on ("rate" must come
                                   // before "content" in the chain, as by default)
    } score;

    // What /blocklist.xml publishes ([antispim.publish]).
    struct publish_options {
        // Entry sources: "admin", "dos", "consensus", "reports", "imports".
        std::vector<std::string> sources{"admin", "dos", "consensus", "reports"};
        bool hash_jids = false;  // publish JIDs as SHA-256 of the bare JID (kind "jid-sha256") for privacy
        // Also as XEP-0060 real-time blocklist nodes on the [pubsub] service (JIDs there always hashed); true by
        // default when there is a service, false (and true is an error) when there is none.
        bool rtbl = true;
    } publish;
};

}  // namespace hush
