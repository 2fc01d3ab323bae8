package spec

import (
	"sort"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/apperr"
	"google.golang.org/protobuf/proto"
)

// DefaultPreset is used when an upload names neither a preset nor a spec.
const DefaultPreset = "default"

// Presets is an immutable set of named specs.
type Presets struct {
	byName map[string]*pb.Preset
}

// Builtin returns the built-in presets.
func Builtin() *Presets {
	p, err := NewPresets(builtin())
	if err != nil {
		panic(err) // the built-ins are constants; a test covers them
	}
	return p
}

func builtin() []*pb.Preset {
	webp := pb.Format_FORMAT_WEBP
	return []*pb.Preset{{
		Name:        DefaultPreset,
		Description: "64x64 PNG thumbnail, and WebP fitted within 800x800 and 1600x1600; never upscaled, metadata stripped",
		Spec: &pb.ProcessingSpec{Variants: []*pb.VariantSpec{
			{Name: "thumb", Width: 64, Height: 64, Fit: pb.Fit_FIT_COVER, Format: pb.Format_FORMAT_PNG},
			{Name: "medium", Width: 800, Height: 800, Fit: pb.Fit_FIT_INSIDE, Format: webp, Quality: 80},
			{Name: "large", Width: 1600, Height: 1600, Fit: pb.Fit_FIT_INSIDE, Format: webp, Quality: 80},
		}},
	}}
}

// NewPresets validates and indexes presets.
func NewPresets(list []*pb.Preset) (*Presets, error) {
	p := &Presets{byName: map[string]*pb.Preset{}}
	for _, pr := range list {
		if !ValidName(pr.GetName()) {
			return nil, apperr.InvalidField("preset.name", "invalid preset name %q", pr.GetName())
		}
		if err := Validate("presets["+pr.GetName()+"].spec", pr.GetSpec()); err != nil {
			return nil, err
		}
		p.byName[pr.GetName()] = pr
	}
	return p, nil
}

// List returns the presets sorted by name.
func (p *Presets) List() []*pb.Preset {
	out := make([]*pb.Preset, 0, len(p.byName))
	for _, pr := range p.byName {
		out = append(out, proto.Clone(pr).(*pb.Preset))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
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
		if err := Validate(field("spec"), inline); err != nil {
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
