-- A handler for images of type "mcu-ota", so that Debian's swupdate -c can
-- check mcu-ota's test bundles (container, signature, hashes) exactly as it
-- checks its own: SWUpdate refuses an image whose type has no handler.
-- Loaded through LUA_PATH by test_swupdate_agrees.sh; it installs nothing.
require("swupdate")

function mcu_ota_check_only(image)
	return 0
end

swupdate.register_handler("mcu-ota", mcu_ota_check_only, swupdate.HANDLER_MASK.IMAGE_HANDLER)
