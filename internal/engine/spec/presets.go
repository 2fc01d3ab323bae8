package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DefaultPreset is used when an upload names neither a preset nor a spec.
const DefaultPreset = "default"

// Presets is an immutable set of named specs and the watermark images they
// (and inline specs) may use.
type Presets struct {
	byName     map[string]*pb.Preset
	watermarks map[string]*imaging.WatermarkImage
}

// Builtin returns the built-in presets.
func Builtin() *Presets {
	p, err := NewPresets(builtin())
	if err != nil {
		panic(err) // the built-ins are constants; a test covers them
	}
	return p
}

// WebWidths are the widths of the built-in "web" preset's srcset ladder.
var WebWidths = []int32{320, 640, 960, 1280, 1920}

func builtin() []*pb.Preset {
	webp := pb.Format_FORMAT_WEBP
	avatar := &pb.ProcessingSpec{}
	for _, s := range []int32{100, 200, 600} {
		avatar.Variants = append(avatar.Variants, &pb.VariantSpec{
			Name: fmt.Sprint(s), Width: s, Height: s, Fit: pb.Fit_FIT_COVER,
			Gravity: pb.Gravity_GRAVITY_SMART_ATTENTION, Format: pb.Format_FORMAT_PNG,
		})
	}
	web := &pb.ProcessingSpec{}
	for _, w := range WebWidths {
		web.Variants = append(web.Variants,
			&pb.VariantSpec{Name: fmt.Sprintf("w%d-webp", w), Width: w, Fit: pb.Fit_FIT_INSIDE, Format: webp, Quality: 80},
			&pb.VariantSpec{Name: fmt.Sprintf("w%d-jpeg", w), Width: w, Fit: pb.Fit_FIT_INSIDE, Format: pb.Format_FORMAT_JPEG, Quality: 82,
				Jpeg: &pb.JpegOptions{Progressive: true}})
	}
	return []*pb.Preset{{
		Name:        DefaultPreset,
		Description: "64x64 PNG thumbnail, and WebP fitted within 800x800 and 1600x1600; never upscaled, metadata stripped",
		Spec: &pb.ProcessingSpec{Variants: []*pb.VariantSpec{
			{Name: "thumb", Width: 64, Height: 64, Fit: pb.Fit_FIT_COVER, Format: pb.Format_FORMAT_PNG},
			{Name: "medium", Width: 800, Height: 800, Fit: pb.Fit_FIT_INSIDE, Format: webp, Quality: 80},
			{Name: "large", Width: 1600, Height: 1600, Fit: pb.Fit_FIT_INSIDE, Format: webp, Quality: 80},
		}},
	}, {
		Name: "avatar",
		Description: "square PNG crops of 100, 200 and 600 pixels around the most interesting region (libvips attention), named 100, 200 and 600; " +
			"never upscaled (a smaller original gives a smaller square), metadata stripped",
		Spec: avatar,
	}, {
		Name: "web",
		Description: "srcset ladder: widths 320, 640, 960, 1280 and 1920 as WebP (q80) and progressive JPEG (q82), named w{width}-webp and w{width}-jpeg; " +
			"never upscaled, metadata stripped",
		Spec: web,
	}}
}

// NewPresets validates and indexes presets (with no watermark assets).
func NewPresets(list []*pb.Preset) (*Presets, error) {
	return newPresets(list, nil)
}

func newPresets(list []*pb.Preset, watermarks map[string]*imaging.WatermarkImage) (*Presets, error) {
	p := &Presets{byName: map[string]*pb.Preset{}, watermarks: watermarks}
	if p.watermarks == nil {
		p.watermarks = map[string]*imaging.WatermarkImage{}
	}
	for _, pr := range list {
		if !ValidName(pr.GetName()) {
			return nil, apperr.InvalidField("preset.name", "invalid preset name %q", pr.GetName())
		}
		if err := p.Validate("presets["+pr.GetName()+"].spec", pr.GetSpec()); err != nil {
			return nil, err
		}
		p.byName[pr.GetName()] = pr
	}
	return p, nil
}

// List returns the presets: the default first, then the others by name.
func (p *Presets) List() []*pb.Preset {
	out := make([]*pb.Preset, 0, len(p.byName))
	for _, pr := range p.byName {
		out = append(out, proto.Clone(pr).(*pb.Preset))
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == DefaultPreset) != (out[j].Name == DefaultPreset) {
			return out[i].Name == DefaultPreset
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Watermarks returns the names of the watermark assets, sorted.
func (p *Presets) Watermarks() []string {
	out := make([]string, 0, len(p.watermarks))
	for name := range p.watermarks {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Resolve picks the spec for a request that may name a preset or carry an
// inline spec (not both); neither means the default preset. Errors name the
// field under prefix (e.g. "metadata").
func (p *Presets) Resolve(prefix, preset string, inline *pb.ProcessingSpec) (string, *pb.ProcessingSpec, error) {
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	if inline != nil {
		if preset != "" {
			return "", nil, apperr.InvalidField(field("spec"), "give a preset or a spec, not both")
		}
		if err := p.Validate(field("spec"), inline); err != nil {
			return "", nil, err
		}
		return "", proto.Clone(inline).(*pb.ProcessingSpec), nil
	}
	if preset == "" {
		preset = DefaultPreset
	}
	pr, ok := p.byName[preset]
	if !ok {
		return "", nil, apperr.InvalidField(field("preset"), "unknown preset %q", preset)
	}
	return preset, proto.Clone(pr.GetSpec()).(*pb.ProcessingSpec), nil
}

var defaultPresets atomic.Pointer[Presets]

// SetDefault makes p the presets that the package-level Validate and
// Variants use to resolve watermark assets. A process that loads a presets
// file (LoadPresets) must install it here, because the processor validates
// and converts stored specs with the package-level functions.
func SetDefault(p *Presets) { defaultPresets.Store(p) }

// Default returns the presets installed by SetDefault, or the built-ins.
func Default() *Presets {
	if p := defaultPresets.Load(); p != nil {
		return p
	}
	p := Builtin()
	defaultPresets.CompareAndSwap(nil, p)
	return defaultPresets.Load()
}

// Limits of a presets file.
const (
	MaxPresetsFileBytes   = 1 << 20
	MaxWatermarkFileBytes = 10 << 20
	MaxPresets            = 256
	MaxWatermarks         = 64
)

// LoadPresets reads a presets configuration file and returns its presets
// merged over the built-ins (a preset of the same name replaces the
// built-in). The file is JSON:
//
//	{
//	  "watermarks": {"logo": "watermarks/logo.png"},
//	  "presets": [
//	    {"name": "hero", "description": "…", "spec": {"variants": [ … ]}}
//	  ]
//	}
//
// Each preset is a Preset in protojson form (field names as in the proto or
// in lowerCamelCase, enums by name). Watermark paths are relative to the
// file's directory; the images are decoded once, here. Errors name the
// preset (or watermark) and the field at fault.
func LoadPresets(path string) (*Presets, error) {
	data, err := readLimited(path, MaxPresetsFileBytes)
	if err != nil {
		return nil, fmt.Errorf("presets file: %w", err)
	}
	dir := filepath.Dir(path)
	p, err := ParsePresets(data, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return readLimited(name, MaxWatermarkFileBytes)
	})
	if err != nil {
		return nil, fmt.Errorf("presets file %s: %w", path, err)
	}
	return p, nil
}

// ParsePresets parses the contents of a presets file (see LoadPresets);
// readWatermark returns the bytes of a watermark file named in it.
func ParsePresets(data []byte, readWatermark func(path string) ([]byte, error)) (*Presets, error) {
	var file struct {
		Watermarks map[string]string `json:"watermarks"`
		Presets    []json.RawMessage `json:"presets"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("not a presets file (want {\"watermarks\": {…}, \"presets\": […]}): %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the presets object")
	}
	if len(file.Presets) > MaxPresets {
		return nil, fmt.Errorf("presets: at most %d, got %d", MaxPresets, len(file.Presets))
	}
	if len(file.Watermarks) > MaxWatermarks {
		return nil, fmt.Errorf("watermarks: at most %d, got %d", MaxWatermarks, len(file.Watermarks))
	}

	names := make([]string, 0, len(file.Watermarks))
	for name := range file.Watermarks {
		names = append(names, name)
	}
	sort.Strings(names)
	watermarks := map[string]*imaging.WatermarkImage{}
	for _, name := range names {
		path := file.Watermarks[name]
		if !ValidName(name) {
			return nil, fmt.Errorf("watermarks[%q]: invalid name: must match %s", name, nameRE)
		}
		if path == "" {
			return nil, fmt.Errorf("watermarks[%q]: empty path", name)
		}
		b, err := readWatermark(path)
		if err != nil {
			return nil, fmt.Errorf("watermarks[%q]: %w", name, err)
		}
		img, err := imaging.NewWatermarkImage(b)
		if err != nil {
			return nil, fmt.Errorf("watermarks[%q]: %s: %w", name, path, err)
		}
		watermarks[name] = img
	}

	list := builtin()
	index := map[string]int{}
	for i, pr := range list {
		index[pr.GetName()] = i
	}
	seen := map[string]bool{}
	for i, raw := range file.Presets {
		pr := &pb.Preset{}
		if err := protojson.Unmarshal(raw, pr); err != nil {
			return nil, fmt.Errorf("presets[%d]%s: %w", i, nameHint(raw), err)
		}
		name := pr.GetName()
		if !ValidName(name) {
			return nil, fmt.Errorf("presets[%d].name: must match %s, got %q", i, nameRE, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("presets[%d].name: duplicate preset %q", i, name)
		}
		seen[name] = true
		if j, ok := index[name]; ok {
			list[j] = pr // replaces the built-in
		} else {
			index[name] = len(list)
			list = append(list, pr)
		}
	}
	return newPresets(list, watermarks)
}

// nameHint returns ` ("name")` when raw has a string "name", for errors.
func nameHint(raw json.RawMessage) string {
	var n struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &n) == nil && n.Name != "" {
		return fmt.Sprintf(" (%q)", n.Name)
	}
	return ""
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}
