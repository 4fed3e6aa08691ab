#include "scheduler/codec/json_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "scheduler/codec/json.h"

namespace accelsched::scheduler::codec {

const Json* Find(const Json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it != object.end()) return it->is_null() ? nullptr : &*it;
  for (auto i = object.begin(); i != object.end(); ++i) {
    if (absl::EqualsIgnoreCase(i.key(), key)) return i->is_null() ? nullptr : &*i;
  }
  return nullptr;
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(std::string(what));
  return j;
}

std::string Join(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

absl::Status WrongType(absl::string_view path, absl::string_view what, const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": must be ", what, ", got ", got.type_name()));
}

absl::Status ExpectObject(const Json& j, absl::string_view path) {
  return j.is_object() ? absl::OkStatus() : WrongType(path, "an object", j);
}

absl::StatusOr<std::string> GetString(const Json& object, absl::string_view key,
                                      absl::string_view path, bool required) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(Join(path, key), ": required"));
    return std::string();
  }
  if (!v->is_string()) return WrongType(Join(path, key), "a string", *v);
  return v->get<std::string>();
}

absl::StatusOr<std::map<std::string, std::string>> GetStringMap(const Json& object,
                                                                absl::string_view key,
                                                                absl::string_view path) {
  std::map<std::string, std::string> out;
  const Json* v = Find(object, key);
  if (v == nullptr) return out;
  const std::string p = Join(path, key);
  if (!v->is_object()) return WrongType(p, "an object of strings", *v);
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it->is_string()) {
      out[it.key()] = it->get<std::string>();
    } else if (it->is_number_integer() || it->is_number_float() || it->is_boolean()) {
      out[it.key()] = it->dump();
    } else if (!it->is_null()) {
      return WrongType(absl::StrCat(p, "[\"", it.key(), "\"]"), "a string", *it);
    }
  }
  return out;
}

absl::StatusOr<std::string> QuantityText(const Json& value, absl::string_view path) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_unsigned() || value.is_number_integer()) return value.dump();
  if (value.is_number_float()) return value.dump();
  return WrongType(path, "a quantity (string or number)", value);
}

}  // namespace accelsched::scheduler::codec
