#include "antispim/blocklist_service.hpp"
#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <sstream>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "antispim/blocklist_import.hpp"
#include "antispim/greylist.hpp"
#include "storage/store.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {


class blocklist_policy final : public as::policy {
public:
    explicit blocklist_policy(blocklist_service& service) : service_(service) {}
    std::string_view name() const override { return "blocklist"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        const auto list = service_.current();
        const storage::blocklist_entry* entry = list->match(ctx.sender, ctx.peer_address, unix_now());
        if (entry == nullptr || (ctx.contact && !entry->contacts_too)) {
            co_return result(as::verdict::pass());
        }
        const auto path = as::path_of(ctx.stanza);
        if (path == as::stranger_path::none) {
            co_return result(as::verdict::pass());
        }
        if (entry->trust == "challenge") {
            co_return result(as::verdict::pass());  // the challenge policy asks this sender, whatever the user's mode
        }
        if (entry->trust == "greylist") {
            // Defer a first contact once per sender and receiver, as for a greylisted network.
            greylist* grey = service_.greylist_for_entries();
            if (grey == nullptr || !as::is_first_contact(path)) {
                co_return result(as::verdict::pass());
            }
            const auto wait = grey->check_listed(ctx.sender.bare_string(), ctx.receiver.bare_string(),
                                                 std::chrono::steady_clock::now());
            if (wait.count() == 0) {
                co_return result(as::verdict::pass());
            }
            as::verdict v;
            v.kind = as::verdict_kind::defer;
            v.reason = "listed-greylist-" + entry->kind + ":" + entry->value;
            v.error_condition = "policy-violation";
            v.error_text = (entry->source == "dos detector" ? std::string("your network is greylisted here")
                                                            : "listed by " + entry->source.substr(entry->source.find(':') + 1)) +
                           ": please try again in " + std::to_string(wait.count()) + " s";
            co_return result(std::move(v));
        }
        as::verdict v;
        v.kind = path == as::stranger_path::directed_presence ? as::verdict_kind::drop : as::verdict_kind::reject;
        v.reason = "blocked-" + entry->kind + ":" + entry->value;
        v.error_condition = "policy-violation";
        v.error_text = "blocked on this server (" + entry->kind + " " + entry->value + "): " + entry->reason;
        co_return result(std::move(v));
    }

private:
    blocklist_service& service_;
};

}  // namespace

blocklist_service::blocklist_service(const antispim_config& cfg, const storage::store_options& storage,
                                     std::string ca_file, storage::async_store& store, class greylist* greylist)
    : cfg_(cfg), ca_file_(std::move(ca_file)), store_(store), greylist_(greylist) {
    auto connection = storage::open_store(storage);
    if (auto migrated = connection->migrate(); !migrated) {
        throw std::runtime_error("cannot prepare the database: " + migrated.error().message);
    }
    auto entries = connection->list_blocklist(unix_now());
    if (!entries) {
        throw std::runtime_error("cannot read the server blocklist: " + entries.error().message);
    }
    install(std::move(*entries));
}

std::shared_ptr<const as::blocklist> blocklist_service::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

void blocklist_service::install(std::vector<storage::blocklist_entry> entries) {
    std::lock_guard lock(mutex_);
    if (entries != local_) {
        generation_.fetch_add(1, std::memory_order_release);  // a periodic reload that read the same is no change
    }
    local_ = std::move(entries);
    const std::size_t count = local_.size();
    spdlog::log(count != last_count_ ? spdlog::level::info : spdlog::level::debug,
                "antispim: blocklist loaded, {} entr{}", count, count == 1 ? "y" : "ies");
    last_count_ = count;
    rebuild();
}

void blocklist_service::rebuild() {
    std::vector<storage::blocklist_entry> all = local_;
    for (const auto& [url, entries] : imported_) {
        for (const auto& e : entries) {
            // A local entry for the same value wins (it may say contacts_too, or expire differently).
            const bool shadowed = std::any_of(local_.begin(), local_.end(), [&](const storage::blocklist_entry& l) {
                return l.kind == e.kind && l.value == e.value;
            });
            if (!shadowed) {
                all.push_back(e);
            }
        }
    }
    current_ = std::make_shared<const as::blocklist>(std::move(all), unix_now());
}

void blocklist_service::set_imported(const std::string& source, std::vector<storage::blocklist_entry> entries) {
    std::lock_guard lock(mutex_);
    auto& slot = imported_[source];
    if (entries != slot) {
        generation_.fetch_add(1, std::memory_order_release);
    }
    slot = std::move(entries);
    rebuild();
}

bool blocklist_service::listed_for_challenge(const jid& sender, std::string_view peer_address) const {
    const auto list = current();
    const auto* entry = list->match(sender, peer_address, unix_now());
    return entry != nullptr && entry->trust == "challenge";
}

bool blocklist_service::listed_mildly(const jid& sender, std::string_view peer_address) const {
    const auto list = current();
    const auto* entry = list->match(sender, peer_address, unix_now());
    return entry != nullptr && (entry->trust == "challenge" || entry->trust == "greylist");
}

std::vector<storage::blocklist_entry> blocklist_service::imported_entries() const {
    std::lock_guard lock(mutex_);
    const auto now = unix_now();
    std::vector<storage::blocklist_entry> out;
    for (const auto& [url, entries] : imported_) {
        for (const auto& e : entries) {
            if (e.expires_at == 0 || e.expires_at > now) {
                out.push_back(e);
            }
        }
    }
    return out;
}

std::vector<storage::blocklist_entry> blocklist_service::local_entries() const {
    std::lock_guard lock(mutex_);
    const auto now = unix_now();
    std::vector<storage::blocklist_entry> out;
    for (const auto& e : local_) {
        if (e.expires_at == 0 || e.expires_at > now) {
            out.push_back(e);
        }
    }
    return out;
}

std::string_view publish_source_of(const storage::blocklist_entry& e) {
    if (e.source == "admin" || e.source.starts_with("admin:")) {
        return "admin";
    }
    if (e.source == "dos detector") {
        return "dos";
    }
    if (e.source == "user consensus") {
        return "consensus";
    }
    if (e.source == "report") {
        return "reports";
    }
    return "imports";
}

std::vector<storage::blocklist_entry> blocklist_service::published_entries() const {
    const auto& publish = cfg_.publish;
    const auto chosen = [&](const storage::blocklist_entry& e) {
        return std::find(publish.sources.begin(), publish.sources.end(), publish_source_of(e)) !=
               publish.sources.end();
    };
    std::vector<storage::blocklist_entry> out;
    for (auto& e : local_entries()) {
        if (chosen(e)) {
            out.push_back(std::move(e));
        }
    }
    for (auto& e : imported_entries()) {
        // What others listed is theirs to publish: re-published only when asked for, and only if it blocks.
        if (e.trust == "block" && chosen(e)) {
            out.push_back(std::move(e));
        }
    }
    if (publish.hash_jids) {
        for (auto& e : out) {
            if (e.kind == "jid") {
                if (const auto j = jid::parse(e.value)) {
                    e.kind = "jid-sha256";
                    e.value = as::jid_sha256(*j);
                }
            }
        }
    }
    return out;
}

asio::awaitable<void> blocklist_service::reload() {
    auto list = [now = unix_now()](storage::store& s) { return s.list_blocklist(now); };
    auto entries = co_await store_.read(std::move(list));
    if (!entries) {
        spdlog::error("antispim: cannot reload the blocklist, keeping the old one: {}", entries.error().message);
        co_return;
    }
    install(std::move(*entries));
}

std::unique_ptr<as::policy> blocklist_service::make_policy() { return std::make_unique<blocklist_policy>(*this); }

// ---- following other servers' lists -------------------------------------------------------------------------------

asio::awaitable<void> blocklist_service::follow(antispim_config::import_source source,
                                                const std::atomic<bool>& stopping) {
    const auto executor = co_await asio::this_coro::executor;
    std::string etag;
    asio::steady_timer pause(executor);
    while (!stopping) {
        auto fetched = co_await fetch_list(source.url, etag, ca_file_, std::chrono::seconds(20));
        std::string failure;
        if (!fetched) {
            failure = fetched.error();
        } else if (fetched->status == 304) {
            spdlog::debug("antispim: {} unchanged", source.url);
        } else if (fetched->status != 200) {
            failure = "HTTP " + std::to_string(fetched->status);
        } else if (auto entries = parse_blocklist_import(source.format, fetched->body, source.url, unix_now(),
                                                         source.evidence);
                   !entries) {
            failure = entries.error();
        } else {
            etag = fetched->etag;
            for (auto& e : *entries) {
                e.trust = std::string(as::milder_trust(source.trust, e.trust));  // a published greylist stays one
            }
            const std::size_t count = entries->size();
            set_imported(source.url, std::move(*entries));
            spdlog::info("antispim: imported {} entr{} from {} (trust: {})", count, count == 1 ? "y" : "ies",
                         source.url, source.trust);
        }
        if (!failure.empty()) {
            // Keep what was imported before: a list that cannot be fetched has not changed.
            spdlog::warn("antispim: import from {} failed: {}", source.url, failure);
        }
        pause.expires_after(source.interval);
        co_await pause.async_wait(tuple_awaitable);
    }
}

}  // namespace hush
