-- help's entry for the display driver; bundled only where the driver is
-- (lua/help.lua merges it in).
return {
  ili9341 = { "ILI9341 240x320 SPI display (docs/ili9341.md)",
    "ili9341.new(bus, cs, opts) -> lcd", "start it; lcd:fill, rect, pixel, blit, text...",
  },
}
