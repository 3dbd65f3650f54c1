// The XMPP side of XEP-0363: disco, and slot requests decided in one storage operation (the account's rate, pending
// slots and quota read and the slot written under its lock). And the sweeper of expired slots and files.
#include "server/upload/upload_service.hpp"

#include <algorithm>
#include <system_error>

#include <spdlog/spdlog.h>

#include "protocol/data_form.hpp"
#include "protocol/http_upload.hpp"
#include "server/upload/upload_names.hpp"

namespace hush {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view disco_info_ns = "http://jabber.org/protocol/disco#info";
constexpr std::string_view disco_items_ns = "http://jabber.org/protocol/disco#items";
constexpr std::size_t sweep_batch = 500;        // rows per storage job
constexpr std::size_t sweep_max_batches = 20;   // per sweep: the rest waits for the next one
constexpr std::size_t orphan_scan_limit = 10000;  // directory entries looked at per sweep

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

pugi::xml_node first_element(const stanza& s) {
    for (auto child : s.element().children()) {
        if (child.type() == pugi::node_element && std::string_view(child.name()) != "error") {
            return child;
        }
    }
    return {};
}

stanza error_reply(const stanza& iq, std::string_view condition, error_type type, std::string_view text) {
    return make_error_reply(iq, condition, type, text);
}

// The slot <request/> answered with <not-acceptable/> and the XEP's <file-too-large/> (§5, example 6).
stanza too_large(const stanza& iq, std::uint64_t max) {
    stanza reply = make_error_reply(iq, "not-acceptable", error_type::modify,
                                    "File too large. The maximum file size is " + std::to_string(max) + " bytes");
    http_upload::write_file_too_large(reply.element().child("error"), max);
    return reply;
}

void unlink_quietly(const fs::path& p) {
    std::error_code ec;
    fs::remove(p, ec);  // gone already is fine; anything else is tried again next sweep
}

}  // namespace

upload_service::upload_service(storage::async_store& store, const upload_config& options, url_source base_url)
    : store_(store), options_(options), base_url_(std::move(base_url)) {}

bool upload_service::serves(std::string_view domain) const {
    return std::find(options_.services.begin(), options_.services.end(), domain) != options_.services.end();
}

std::string upload_service::host_of(std::string_view service) const {
    for (std::size_t i = 0; i < options_.services.size() && i < options_.service_hosts.size(); ++i) {
        if (options_.services[i] == service) {
            return options_.service_hosts[i];
        }
    }
    return {};
}

std::vector<std::string> upload_service::services_of(std::string_view host) const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < options_.services.size() && i < options_.service_hosts.size(); ++i) {
        if (options_.service_hosts[i] == host) {
            out.push_back(options_.services[i]);
        }
    }
    return out;
}

std::vector<std::string> upload_service::service_features() {
    return {std::string(disco_info_ns), std::string(http_upload::ns)};
}

stanza upload_service::disco_info(const stanza& iq) const {
    stanza reply = make_iq_result(iq);
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(disco_info_ns).c_str());
    auto identity = q.append_child("identity");
    identity.append_attribute("category").set_value("store");
    identity.append_attribute("type").set_value("file");
    identity.append_attribute("name").set_value("HTTP File Upload");
    for (const auto& f : service_features()) {
        q.append_child("feature").append_attribute("var").set_value(f.c_str());
    }
    // XEP-0363 §3 with XEP-0128: the largest file a slot is given for.
    data_form::builder form(q, "result", http_upload::ns);
    form.text("max-file-size", "", std::to_string(options_.max_file_size));
    return reply;
}

boost::asio::awaitable<void> upload_service::handle(const stanza& s, const jid& from, const jid& to,
                                                    bool local_sender, outgoing& out) {
    if (s.is_error() || s.type() == "result" || s.kind() == stanza_kind::presence) {
        co_return;  // nothing asked: nothing to answer (and an error is never answered)
    }
    if (s.kind() != stanza_kind::iq) {
        out.route(make_error_reply(s, "service-unavailable", error_type::cancel, "this is a file upload service"));
        co_return;
    }
    const auto payload = first_element(s);
    const std::string_view ns = payload.attribute("xmlns").value();
    const std::string_view name = payload.name();
    const bool no_node = std::string_view(payload.attribute("node").value()).empty();
    if (s.type() == "get" && name == "query" && ns == disco_info_ns && no_node) {
        out.route(disco_info(s));
    } else if (s.type() == "get" && name == "query" && ns == disco_items_ns && no_node) {
        stanza reply = make_iq_result(s);
        reply.element().append_child("query").append_attribute("xmlns").set_value(
            std::string(disco_items_ns).c_str());
        out.route(std::move(reply));
    } else if (s.type() == "get" && name == "request" && ns == http_upload::ns) {
        const std::string host = host_of(to.domain());
        // Strangers never get a slot: only a client session of this server, for an account of the service's host.
        if (!local_sender || !from.has_node() || from.domain() != host) {
            spdlog::info("upload {}: slot refused to {} (not an account of {})", to.domain(), from.full_string(), host);
            out.route(error_reply(s, "not-allowed", error_type::auth,
                                  "only accounts of " + host + " may upload files here"));
        } else {
            out.route(co_await request_slot(s, from, host));
        }
    } else {
        out.route(error_reply(s, "service-unavailable", error_type::cancel, {}));
    }
}

boost::asio::awaitable<stanza> upload_service::request_slot(const stanza& iq, const jid& from,
                                                            const std::string& host) {
    const auto request = http_upload::parse_request(first_element(iq));
    if (!request) {
        co_return error_reply(iq, "bad-request", error_type::modify,
                              "a slot request needs a filename and a size in bytes");
    }
    if (request->size > options_.max_file_size) {
        co_return too_large(iq, options_.max_file_size);
    }
    if (!request->content_type.empty() && !upload::acceptable_content_type(request->content_type)) {
        co_return error_reply(iq, "bad-request", error_type::modify, "the content type is not a media type");
    }
    if (!upload::content_type_allowed(request->content_type, options_.allowed_content_types) ||
        (request->content_type.empty() && !options_.allowed_content_types.empty())) {
        co_return error_reply(iq, "not-acceptable", error_type::modify,
                              "files of type '" + request->content_type + "' are not accepted here");
    }
    const std::string secret = upload::random_secret();
    storage::upload_record r;
    r.id = upload::random_id();
    if (r.id.empty() || secret.empty()) {
        co_return error_reply(iq, "internal-server-error", error_type::wait, "no random numbers");
    }
    r.secret_sha256 = upload::sha256_hex(secret);
    r.domain = from.domain();
    r.username = from.node();
    r.filename = upload::sanitize_filename(request->filename);
    r.size = static_cast<std::int64_t>(request->size);
    r.content_type = request->content_type;
    r.created_at = unix_now();
    r.expires_at = r.created_at + options_.slot_timeout.count();
    const storage::upload_limits limits{static_cast<std::int64_t>(options_.quota_per_user),
                                        static_cast<std::int64_t>(options_.max_pending_slots),
                                        static_cast<std::int64_t>(options_.max_slots_per_minute)};
    auto created = co_await store_.run([r, limits](storage::store& s) {
        return s.create_upload_slot(r, limits, r.created_at);
    });
    if (!created) {
        spdlog::error("upload: slot for {} not stored: {}", from.bare_string(), created.error().message);
        co_return error_reply(iq, "internal-server-error", error_type::wait, "the slot could not be stored");
    }
    switch (created->status) {
    case storage::upload_slot_status::created:
        break;
    case storage::upload_slot_status::quota_exceeded:
        co_return error_reply(iq, "resource-constraint", error_type::wait,
                              "Quota reached: " + std::to_string(created->used_bytes) + " of " +
                                  std::to_string(options_.quota_per_user) +
                                  " bytes used; files are deleted after " +
                                  std::to_string(options_.expire_after.count()) + " seconds");
    case storage::upload_slot_status::too_many_pending:
        co_return error_reply(iq, "resource-constraint", error_type::wait,
                              "Too many slots waiting for their upload (at most " +
                                  std::to_string(options_.max_pending_slots) + ")");
    case storage::upload_slot_status::too_many_per_minute:
        co_return error_reply(iq, "resource-constraint", error_type::wait,
                              "Too many slots asked for: at most " + std::to_string(options_.max_slots_per_minute) +
                                  " a minute");
    }
    const std::string url = base_url_() + "/upload/" + r.id + "/" + percent_encode(r.filename);
    spdlog::info("upload {}: slot {} for {} ({} bytes)", host, r.id, from.bare_string(), r.size);
    stanza reply = make_iq_result(iq);
    http_upload::write_slot(reply.element(), http_upload::slot{url, {{"Authorization", "Bearer " + secret}}, url});
    co_return reply;
}

boost::asio::awaitable<void> upload_service::sweep() {
    const fs::path directory = options_.directory;
    // Expired rows: their files first, then the rows (a file never outlives its row unseen: a crash in between
    // leaves a row whose files are gone, deleted next time).
    for (std::size_t batch = 0; batch < sweep_max_batches; ++batch) {
        auto done = co_await store_.run([directory, now = unix_now()](storage::store& s) -> storage::result<std::size_t> {
            auto expired = s.expired_uploads(now, sweep_batch);
            if (!expired) {
                return unexpected(expired.error());
            }
            for (const auto& r : *expired) {
                if (upload::valid_id(r.id)) {
                    unlink_quietly(directory / r.id);
                    unlink_quietly(directory / (r.id + ".part"));
                }
                if (auto deleted = s.delete_upload(r.id); !deleted) {
                    return unexpected(deleted.error());
                }
            }
            return expired->size();
        });
        if (!done) {
            spdlog::error("upload sweep: {}", done.error().message);
            co_return;
        }
        if (*done > 0) {
            spdlog::info("upload sweep: {} expired slot(s) and file(s) deleted", *done);
        }
        if (*done < sweep_batch) {
            break;
        }
    }
    // Files without a live row: a deleted account's, a .part whose PUT is over. Only our names are touched.
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(directory, ec), end; !ec && it != end && names.size() < orphan_scan_limit;
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const std::string_view id = std::string_view(name).substr(0, 32);
        if (upload::valid_id(id) && (name.size() == 32 || name == std::string(id) + ".part")) {
            names.push_back(name);
        }
    }
    if (names.empty()) {
        co_return;
    }
    auto orphans = co_await store_.read([names](storage::store& s) -> storage::result<std::vector<std::string>> {
        std::vector<std::string> out;
        for (const auto& name : names) {
            auto row = s.get_upload(name.substr(0, 32));
            if (!row) {
                return unexpected(row.error());
            }
            const bool part = name.size() > 32;
            // A .part belongs to a PUT under way; a whole file to a row still there.
            if (!*row || (part && (*row)->state != storage::upload_state::uploading)) {
                out.push_back(name);
            }
        }
        return out;
    });
    if (!orphans) {
        spdlog::error("upload sweep: {}", orphans.error().message);
        co_return;
    }
    for (const auto& name : *orphans) {
        unlink_quietly(directory / name);
    }
    if (!orphans->empty()) {
        spdlog::info("upload sweep: {} file(s) without a slot deleted", orphans->size());
    }
}

}  // namespace hush
