package image

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"k8s.io/apimachinery/pkg/types"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// DefaultMessageTemplate is Flux's commit message when spec.git.commit.messageTemplate is empty.
const DefaultMessageTemplate = `Update from image update automation`

// TemplateData is the value commit message templates are rendered with, as in Flux:
// .AutomationObject (namespace/name), .Changed (the Result: .FileChanges, .Changes, .Objects) and
// .Values (spec.git.commit.messageTemplateValues).
type TemplateData struct {
	AutomationObject types.NamespacedName
	Changed          Result
	Values           map[string]string
}

// removedFields are template fields of older Flux versions that Flux now rejects (Stalled, with
// RemovedTemplateField): the field and the text/template error that reveals its use.
var removedFields = []struct{ field, evalError, advice string }{
	{".Updated", "can't evaluate field Updated in type image.TemplateData", "Please use '.Changed' instead."},
	{".Changed.ImageResult", "can't evaluate field ImageResult in type image.Result", "Please use '.Changed.FileChanges' or '.Changed.Objects' instead."},
}

// RenderMessage renders a commit message template as Flux does: Go text/template with Sprig's hermetic
// functions (none that depend on time, randomness or the environment).
func RenderMessage(tmpl string, data TemplateData) (string, error) {
	if tmpl == "" {
		tmpl = DefaultMessageTemplate
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(tmpl)
	if err != nil {
		return "", &Error{Reason: imagev1.GitOperationFailedReason, Err: fmt.Errorf("unable to create commit message template from spec: %w", err)}
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		for _, f := range removedFields {
			if strings.Contains(err.Error(), f.evalError) {
				return "", &Error{Reason: imagev1.RemovedTemplateFieldReason, Stalled: true, Err: fmt.Errorf(
					"template uses removed '%s' field. %s See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template", f.field, f.advice)}
			}
		}
		return "", &Error{Reason: imagev1.GitOperationFailedReason, Err: fmt.Errorf("failed to run template from spec: %w", err)}
	}
	return b.String(), nil
}
