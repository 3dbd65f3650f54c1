#include "server/blocklist_service.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "storage/store.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

namespace {

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class blocklist_policy final : public as::policy {
public:
    explicit blocklist_policy(blocklist_service& service) : service_(service) {}
    std::string_view name() const override { return "blocklist"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        const auto list = service_.current();
        const storage::blocklist_entry* entry = list->match(ctx.sender, ctx.peer_address, now_unix());
        if (entry == nullptr || (!ctx.stranger && !entry->contacts_too)) {
            co_return result(as::verdict::pass());
        }
        const std::string_view type = ctx.stanza.type();
        const bool judged = (ctx.kind == stanza_kind::message && type != "groupchat" && type != "error") ||
                            (ctx.kind == stanza_kind::presence && (type.empty() || type == "subscribe")) ||
                            (ctx.kind == stanza_kind::iq && (type == "get" || type == "set"));
        if (!judged) {
            co_return result(as::verdict::pass());
        }
        as::verdict v;
        v.kind = ctx.kind == stanza_kind::presence && type.empty() ? as::verdict_kind::drop : as::verdict_kind::reject;
        v.reason = "blocked-" + entry->kind + ":" + entry->value;
        v.error_condition = "policy-violation";
        v.error_text = "blocked on this server (" + entry->kind + " " + entry->value + "): " + entry->reason;
        co_return result(std::move(v));
    }

private:
    blocklist_service& service_;
};

}  // namespace

blocklist_service::blocklist_service(const config& cfg, storage::async_store& store) : store_(store) {
    auto connection = storage::open_store(cfg.storage);
    if (auto migrated = connection->migrate(); !migrated) {
        throw std::runtime_error("cannot prepare the database: " + migrated.error().message);
    }
    auto entries = connection->list_blocklist(now_unix());
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
    auto fresh = std::make_shared<const as::blocklist>(std::move(entries), now_unix());
    const std::size_t count = fresh->entries().size();
    std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
    spdlog::log(count != last_count_ ? spdlog::level::info : spdlog::level::debug,
                "antispim: blocklist loaded, {} entr{}", count, count == 1 ? "y" : "ies");
    last_count_ = count;
}

asio::awaitable<void> blocklist_service::reload() {
    auto list = [now = now_unix()](storage::store& s) { return s.list_blocklist(now); };
    auto entries = co_await store_.run(std::move(list));
    if (!entries) {
        spdlog::error("antispim: cannot reload the blocklist, keeping the old one: {}", entries.error().message);
        co_return;
    }
    install(std::move(*entries));
}

std::unique_ptr<as::policy> blocklist_service::make_policy() { return std::make_unique<blocklist_policy>(*this); }

}  // namespace hush
