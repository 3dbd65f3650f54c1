#include "storage/store.hpp"

#include <stdexcept>

#include "storage/postgres_store.hpp"
#include "storage/sqlite_store.hpp"

namespace hush::storage {

std::unique_ptr<store> open_store(const store_options& options) {
    switch (options.backend) {
    case store_options::backend_kind::sqlite:
        return std::make_unique<sqlite_store>(options.sqlite_path);
    case store_options::backend_kind::postgresql:
        return std::make_unique<postgres_store>(options.postgres_url);
    }
    throw std::runtime_error("unknown storage backend");
}

}  // namespace hush::storage
